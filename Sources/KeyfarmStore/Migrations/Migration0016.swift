extension Migration {
    /// High availability: the lease one coordinator leads with (`coordinator_lease`, one row:
    /// holder, advertised endpoint, epoch, expiry by the database's clock), every coordinator
    /// process seen (`coordinators`), and the view that shows them (`v_coordinators`).
    static let coordinatorLease = Migration(version: 16, name: "coordinator lease and standbys", sql: #"""
    -- One row, or none before the first coordinator. A standby takes it when `expires_at` has
    -- passed, adding one to `epoch`; the leader renews it, and every transaction it commits
    -- first reads it FOR SHARE at its own holder and epoch (the fence).
    CREATE TABLE keyfarm.coordinator_lease (
        id         boolean PRIMARY KEY DEFAULT true CHECK (id),
        holder     text NOT NULL,
        endpoint   text NOT NULL,
        epoch      bigint NOT NULL CHECK (epoch >= 1),
        expires_at timestamptz NOT NULL,
        since      timestamptz NOT NULL
    );

    -- Every coordinator process (`instance` is random per process), seen at each lease poll.
    CREATE TABLE keyfarm.coordinators (
        instance      text PRIMARY KEY,
        host          text NOT NULL,
        pid           int NOT NULL,
        endpoint      text NOT NULL,
        version       text NOT NULL DEFAULT '',
        started_at    timestamptz NOT NULL DEFAULT now(),
        last_seen_at  timestamptz NOT NULL DEFAULT now(),
        -- When it last began to stand by (start, or stepping down), and the last epoch it led at.
        standby_since timestamptz NOT NULL DEFAULT now(),
        last_epoch    bigint,
        stopped_at    timestamptz
    );
    CREATE INDEX coordinators_by_last_seen ON keyfarm.coordinators (last_seen_at);

    -- One row per coordinator process: `leader` holds an unexpired lease; `standby` was seen in
    -- the last 10 s; `stopped` said goodbye; `gone` stopped being seen (killed, host lost).
    CREATE VIEW keyfarm.v_coordinators AS
    SELECT c.instance, c.host, c.pid, c.endpoint, c.version,
           CASE
               WHEN l.holder IS NOT NULL AND l.expires_at > now() THEN 'leader'
               WHEN c.stopped_at IS NOT NULL THEN 'stopped'
               WHEN c.last_seen_at > now() - interval '10 seconds' THEN 'standby'
               ELSE 'gone'
           END AS role,
           COALESCE(l.epoch, c.last_epoch) AS epoch,
           CASE WHEN l.holder IS NOT NULL AND l.expires_at > now() THEN l.since ELSE c.standby_since END AS since,
           c.last_seen_at, c.started_at, c.stopped_at,
           l.expires_at AS lease_expires_at
    FROM keyfarm.coordinators c
    LEFT JOIN keyfarm.coordinator_lease l ON l.holder = c.instance;

    DO $do$
    BEGIN
        GRANT SELECT, INSERT, UPDATE ON keyfarm.coordinator_lease, keyfarm.coordinators TO keyfarm_coordinator;
        GRANT DELETE ON keyfarm.coordinators TO keyfarm_coordinator;
        GRANT SELECT ON keyfarm.v_coordinators TO keyfarm_coordinator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_coordinator grants skipped: the role does not exist';
    END
    $do$;
    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_coordinators TO keyfarm_operator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_operator grants skipped: the role does not exist';
    END
    $do$;
    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_coordinators TO keyfarm_dashboard;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard grants skipped: the role does not exist';
    END
    $do$;
    """#)
}
