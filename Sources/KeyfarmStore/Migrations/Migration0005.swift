extension Migration {
    /// Per-provider accounts: the limits the coordinator enforces when it claims (concurrent
    /// generations, creates a minute) and what a failed generation costs (refunded, charged or
    /// free). Editable with `keyfarm providers set`.
    static let providerAccounts = Migration(version: 5, name: "provider accounts", sql: #"""
    CREATE TABLE keyfarm.provider_accounts (
        provider           text PRIMARY KEY CHECK (provider ~ '^[a-z][a-z0-9_-]*$'),
        max_concurrent     int CHECK (max_concurrent > 0),
        creates_per_minute int CHECK (creates_per_minute > 0),
        failed_generations text NOT NULL DEFAULT 'charged' CHECK (failed_generations IN ('refunded', 'charged', 'free')),
        updated_at         timestamptz NOT NULL DEFAULT now()
    );
    -- Luma's Build tier allows 10 concurrent generations and 20 creates a minute, and refunds
    -- failed generations; fal does not bill requests that fail with 5xx; WaveSpeed refunds failures.
    INSERT INTO keyfarm.provider_accounts (provider, max_concurrent, creates_per_minute, failed_generations) VALUES
        ('luma', 10, 20, 'refunded'), ('fal', NULL, NULL, 'free'), ('wavespeed', NULL, NULL, 'refunded');

    -- Each account with its use now: jobs in flight and attempts started in the last minute.
    -- The claim reads its limits' room from here, `keyfarm providers` and dashboards the rest.
    CREATE INDEX jobs_in_flight_by_requirement ON keyfarm.jobs (requires) WHERE state IN ('leased', 'running');
    CREATE INDEX attempts_recent_by_provider ON keyfarm.attempts (provider, started_at) WHERE provider IS NOT NULL;
    CREATE VIEW keyfarm.v_provider_accounts AS
    SELECT pa.provider, pa.max_concurrent, pa.creates_per_minute, pa.failed_generations, pa.updated_at,
           (SELECT count(*) FROM keyfarm.jobs r
             WHERE r.state IN ('leased', 'running') AND r.requires LIKE pa.provider || '/%')::int AS in_flight,
           (SELECT count(*) FROM keyfarm.attempts a
             WHERE a.provider = pa.provider AND a.started_at > now() - interval '1 minute')::int AS started_last_minute
    FROM keyfarm.provider_accounts pa;

    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_provider_accounts TO keyfarm_dashboard;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard grant skipped';
    END
    $do$;
    """#)
}
