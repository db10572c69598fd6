extension Migration {
    /// Dispatch: smoke jobs, fresh attempts for `keyfarm retry`, per-shot worker blocklists,
    /// operator drains, and the columns the dashboard gains from them.
    static let dispatch = Migration(version: 2, name: "dispatch", sql: #"""
    ALTER TABLE keyfarm.jobs DROP CONSTRAINT jobs_kind_check;
    ALTER TABLE keyfarm.jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('segment', 'stitch', 'smoke'));
    -- Attempts before this number belong to earlier rounds (`keyfarm retry` starts a new one):
    -- max_attempts limits attempts - attempt_base.
    ALTER TABLE keyfarm.jobs ADD COLUMN attempt_base int NOT NULL DEFAULT 0;
    -- Every artifact of the succeeded attempt: [{"path", "sha256", "bytes", "media_type"}].
    ALTER TABLE keyfarm.jobs ADD COLUMN artifacts jsonb NOT NULL DEFAULT '[]';

    -- When the worker received the ASSIGN (its clock), for dispatch latency figures.
    ALTER TABLE keyfarm.attempts ADD COLUMN received_at timestamptz;

    ALTER TABLE keyfarm.workers ADD COLUMN draining boolean NOT NULL DEFAULT false;
    ALTER TABLE keyfarm.workers ADD COLUMN instance text;

    -- Failures of one worker on one shot; at three the worker is not given that shot again.
    CREATE TABLE keyfarm.worker_shot_failures (
        worker_id  bigint NOT NULL REFERENCES keyfarm.workers (id),
        shot_id    bigint NOT NULL REFERENCES keyfarm.shots (id),
        failures   int NOT NULL DEFAULT 0,
        blocked_at timestamptz,
        PRIMARY KEY (worker_id, shot_id)
    );
    CREATE INDEX worker_shot_failures_blocked ON keyfarm.worker_shot_failures (worker_id) WHERE blocked_at IS NOT NULL;

    CREATE OR REPLACE VIEW keyfarm.v_workers AS
    SELECT w.id, w.name, w.host, w.version, w.engines, w.slots, w.state, w.connected_at, w.last_seen_at,
           (SELECT count(*) FROM keyfarm.jobs j WHERE j.worker_id = w.id AND j.state IN ('leased', 'running')) AS running_jobs,
           (SELECT count(*) FROM keyfarm.attempts a WHERE a.worker_id = w.id AND a.outcome = 'succeeded') AS succeeded_attempts,
           (SELECT count(*) FROM keyfarm.attempts a WHERE a.worker_id = w.id AND a.outcome IN ('failed', 'lost')) AS failed_attempts,
           (SELECT COALESCE(sum(a.credits), 0) FROM keyfarm.attempts a WHERE a.worker_id = w.id)::bigint AS credits,
           w.draining,
           COALESCE((SELECT array_agg(l.name || '/' || s.shot_key ORDER BY l.name, s.shot_key)
                       FROM keyfarm.worker_shot_failures b
                       JOIN keyfarm.shots s ON s.id = b.shot_id
                       JOIN keyfarm.shot_lists l ON l.id = s.shot_list_id
                      WHERE b.worker_id = w.id AND b.blocked_at IS NOT NULL), '{}') AS blocklisted_shots
    FROM keyfarm.workers w;

    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_workers TO keyfarm_dashboard;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard grant skipped';
    END
    $do$;
    """#)
}
