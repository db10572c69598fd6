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

    CREATE OR REPLACE VIEW keyfarm.v_shot_progress AS
    SELECT s.id AS shot_id, l.id AS shot_list_id, l.project, l.name AS shot_list, s.shot_key AS shot, s.position,
           s.frames, s.fps_num, s.fps_den, s.resolution, s.aspect,
           CASE
               WHEN a.jobs_total > 0 AND a.jobs_succeeded = a.jobs_total THEN 'succeeded'
               WHEN a.jobs_failed > 0 THEN 'failed'
               WHEN a.jobs_cancelled > 0 THEN 'cancelled'
               WHEN a.jobs_running > 0 OR a.jobs_succeeded > 0 THEN 'running'
               ELSE 'queued'
           END AS state,
           a.segment_jobs, a.jobs_total, a.jobs_succeeded, a.jobs_failed, a.jobs_cancelled, a.jobs_running,
           a.jobs_queued, a.jobs_waiting,
           -- Rendering counts for 90 % (weighted by frames), stitching for the last 10 %; a shot
           -- without a stitch job (smoke tests) is all rendering.
           round((CASE WHEN a.stitch_jobs = 0 THEN a.render_progress
                       ELSE 0.9 * a.render_progress + 0.1 * a.stitch_progress END)::numeric, 4)::float8 AS progress,
           a.estimated_credits,
           COALESCE((SELECT sum(c.credits) FROM keyfarm.credit_ledger c JOIN keyfarm.jobs cj ON cj.id = c.job_id
                     WHERE cj.shot_id = s.id AND c.entry IN ('charge', 'refund', 'adjustment')), 0)::bigint AS spent_credits,
           (SELECT fj.job_key || ': ' || COALESCE(fj.last_error, 'failed')
              FROM keyfarm.jobs fj WHERE fj.shot_id = s.id AND fj.state = 'failed'
             ORDER BY fj.finished_at NULLS LAST, fj.id LIMIT 1) AS failure,
           a.updated_at
    FROM keyfarm.shots s
    JOIN keyfarm.shot_lists l ON l.id = s.shot_list_id
    CROSS JOIN LATERAL (
        SELECT count(*) AS jobs_total,
               count(*) FILTER (WHERE j.kind = 'segment') AS segment_jobs,
               count(*) FILTER (WHERE j.state = 'succeeded') AS jobs_succeeded,
               count(*) FILTER (WHERE j.state = 'failed') AS jobs_failed,
               count(*) FILTER (WHERE j.state = 'cancelled') AS jobs_cancelled,
               count(*) FILTER (WHERE j.state IN ('leased', 'running')) AS jobs_running,
               count(*) FILTER (WHERE j.state = 'queued') AS jobs_queued,
               count(*) FILTER (WHERE j.state = 'waiting') AS jobs_waiting,
               COALESCE(sum(j.estimated_credits), 0)::bigint AS estimated_credits,
               COALESCE(sum((j.end_frame - j.start_frame + 1) * CASE WHEN j.state = 'succeeded' THEN 1 ELSE j.progress END)
                            FILTER (WHERE j.kind <> 'stitch')
                        / NULLIF(sum(j.end_frame - j.start_frame + 1) FILTER (WHERE j.kind <> 'stitch'), 0), 0) AS render_progress,
               count(*) FILTER (WHERE j.kind = 'stitch') AS stitch_jobs,
               COALESCE(max(CASE WHEN j.state = 'succeeded' THEN 1 ELSE j.progress END) FILTER (WHERE j.kind = 'stitch'), 0) AS stitch_progress,
               max(j.updated_at) AS updated_at
        FROM keyfarm.jobs j WHERE j.shot_id = s.id
    ) a;

    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_workers, keyfarm.v_shot_progress TO keyfarm_dashboard;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard grant skipped';
    END
    $do$;
    """#)
}
