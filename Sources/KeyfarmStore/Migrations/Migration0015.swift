extension Migration {
    /// Revisions that cost only what changed: each job's request key (`RequestKey`), so a job
    /// asking what an earlier succeeded job of the project asked takes its artifacts (an
    /// attempt with outcome `reused` naming its source); segment takes; a shot list's revision
    /// number and the list it replaced; each shot's content key and review state; and the
    /// views that show them (`v_attempts` and `v_shot_progress` gain columns, `v_revisions`).
    static let revisions = Migration(version: 15, name: "reuse, takes, review and revisions", sql: #"""
    ALTER TABLE keyfarm.jobs ADD COLUMN request_key text,
                             ADD COLUMN take int NOT NULL DEFAULT 1 CHECK (take >= 1),
                             -- Whether the spec names an earlier generation to reuse, kept where the
                             -- claim reads it without opening the spec.
                             ADD COLUMN reusing boolean GENERATED ALWAYS AS (spec ? 'reuse') STORED,
                             -- `keyfarm prune` deleted its files (unselected takes, replaced
                             -- revisions); the row stays for the ledger's sake, never reused.
                             ADD COLUMN pruned_at timestamptz;
    -- Reuse looks a request key up among succeeded jobs only.
    CREATE INDEX jobs_by_request_key ON keyfarm.jobs (request_key) WHERE state = 'succeeded' AND request_key IS NOT NULL;

    ALTER TABLE keyfarm.attempts DROP CONSTRAINT attempts_outcome_check;
    ALTER TABLE keyfarm.attempts ADD CONSTRAINT attempts_outcome_check
        CHECK (outcome IN ('succeeded', 'failed', 'lost', 'cancelled', 'handed_back', 'reused'));
    -- A reused attempt's source: the attempt that rendered the artifacts it took (never itself a reused one).
    ALTER TABLE keyfarm.attempts ADD COLUMN reused_from_attempt_id bigint REFERENCES keyfarm.attempts (id),
        ADD CONSTRAINT attempts_reused_has_source
            CHECK ((COALESCE(outcome, '') = 'reused') = (reused_from_attempt_id IS NOT NULL));

    ALTER TABLE keyfarm.shot_lists ADD COLUMN revision int NOT NULL DEFAULT 1 CHECK (revision >= 1),
                                   ADD COLUMN replaces_id bigint REFERENCES keyfarm.shot_lists (id);
    UPDATE keyfarm.shot_lists l SET revision = r.revision
    FROM (SELECT id, row_number() OVER (PARTITION BY project, name ORDER BY id)::int AS revision
          FROM keyfarm.shot_lists) r
    WHERE l.id = r.id;

    -- `ambiguous`: a create whose answer was lost, on an API that cannot list what it made: the
    -- job's estimate, possibly spent. It counts against budgets like a charge (never overspend);
    -- net spend (charges, refunds, adjustments) leaves it out. Once per attempt.
    ALTER TABLE keyfarm.credit_ledger DROP CONSTRAINT credit_ledger_entry_check;
    ALTER TABLE keyfarm.credit_ledger ADD CONSTRAINT credit_ledger_entry_check
        CHECK (entry IN ('charge', 'refund', 'adjustment', 'reserve', 'release', 'ambiguous'));
    ALTER TABLE keyfarm.credit_ledger DROP CONSTRAINT credit_ledger_sign_check;
    ALTER TABLE keyfarm.credit_ledger ADD CONSTRAINT credit_ledger_sign_check
        CHECK ((entry IN ('charge', 'reserve', 'ambiguous') AND credits >= 0) OR (entry IN ('refund', 'release') AND credits <= 0)
               OR entry = 'adjustment');
    CREATE UNIQUE INDEX credit_ledger_ambiguous_once ON keyfarm.credit_ledger (attempt_id) WHERE entry = 'ambiguous';

    -- 360p: ray-3.2's draft tier (`draft: true`), priced like any resolution.
    ALTER TABLE keyfarm.prices DROP CONSTRAINT prices_resolution_check;
    ALTER TABLE keyfarm.prices ADD CONSTRAINT prices_resolution_check CHECK (resolution IN ('360p', '540p', '720p', '1080p'));

    -- The shot list as submitted, so `keyfarm promote` can plan its final from it.
    ALTER TABLE keyfarm.shot_lists ADD COLUMN source_text text;

    ALTER TABLE keyfarm.shots
        ADD COLUMN draft        boolean NOT NULL DEFAULT false,
        ADD COLUMN content_key  text,
        ADD COLUMN review_state text NOT NULL DEFAULT 'pending' CHECK (review_state IN ('pending', 'approved', 'rejected')),
        ADD COLUMN review_note  text,
        ADD COLUMN reviewed_at  timestamptz,
        ADD COLUMN reviewed_by  text;

    CREATE OR REPLACE VIEW keyfarm.v_attempts AS
    SELECT a.job_id, a.attempt, w.name AS worker, a.started_at, a.finished_at, a.outcome, a.error_class, a.error,
           a.provider, a.provider_request_id, a.credits, a.lease_expires_at, a.artifact_path,
           j.job_key, l.project, l.name AS shot_list, s.shot_key AS shot, a.id AS attempt_id,
           r.job_id AS reused_from_job_id, r.attempt AS reused_from_attempt, rj.job_key AS reused_from_job_key,
           rl.name AS reused_from_shot_list, rl.revision AS reused_from_revision, j.take
    FROM keyfarm.attempts a
    JOIN keyfarm.jobs j ON j.id = a.job_id
    JOIN keyfarm.shots s ON s.id = j.shot_id
    JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
    LEFT JOIN keyfarm.workers w ON w.id = a.worker_id
    LEFT JOIN keyfarm.attempts r ON r.id = a.reused_from_attempt_id
    LEFT JOIN keyfarm.jobs rj ON rj.id = r.job_id
    LEFT JOIN keyfarm.shot_lists rl ON rl.id = rj.shot_list_id;

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
           round((CASE WHEN a.stitch_jobs = 0 THEN a.render_progress
                       ELSE 0.9 * a.render_progress + 0.1 * a.stitch_progress END)::numeric, 4)::float8 AS progress,
           a.estimated_credits,
           COALESCE((SELECT sum(c.credits) FROM keyfarm.credit_ledger c JOIN keyfarm.jobs cj ON cj.id = c.job_id
                     WHERE cj.shot_id = s.id AND c.entry IN ('charge', 'refund', 'adjustment')), 0)::bigint AS spent_credits,
           (SELECT fj.job_key || ': ' || COALESCE(fj.last_error, 'failed')
              FROM keyfarm.jobs fj WHERE fj.shot_id = s.id AND fj.state = 'failed'
             ORDER BY fj.finished_at NULLS LAST, fj.id LIMIT 1) AS failure,
           a.updated_at,
           s.review_state, s.review_note, s.reviewed_at, a.jobs_reused, s.draft
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
               max(j.updated_at) AS updated_at,
               count(*) FILTER (WHERE j.state = 'succeeded' AND EXISTS (
                   SELECT 1 FROM keyfarm.attempts ra WHERE ra.job_id = j.id AND ra.attempt = j.attempts
                      AND ra.outcome = 'reused')) AS jobs_reused
        FROM keyfarm.jobs j WHERE j.shot_id = s.id
    ) a;

    -- One row per revision of a shot list (each submit of a name, `--replace` or not): when,
    -- by whom, which shots it changed from the revision it replaced, what it planned to reuse
    -- and did reuse, and what it was estimated to cost and cost.
    CREATE VIEW keyfarm.v_revisions AS
    SELECT l.id AS shot_list_id, l.project, l.name AS shot_list, l.revision, l.state, l.replaces_id,
           l.created_at, l.submitted_by, l.source_path, l.source_sha256,
           x.shots, x.shots_changed, x.changed_shots, j.jobs, j.jobs_reuse_planned, j.jobs_reused, j.jobs_rendered,
           l.estimated_credits,
           COALESCE((SELECT sum(c.credits) FROM keyfarm.credit_ledger c
                     WHERE c.shot_list_id = l.id AND c.entry IN ('charge', 'refund', 'adjustment')), 0)::bigint AS spent_credits
    FROM keyfarm.shot_lists l
    CROSS JOIN LATERAL (
        SELECT count(*)::int AS shots,
               count(*) FILTER (WHERE p.id IS NULL OR p.content_key IS DISTINCT FROM s.content_key)::int AS shots_changed,
               COALESCE(array_agg(s.shot_key ORDER BY s.position)
                        FILTER (WHERE p.id IS NULL OR p.content_key IS DISTINCT FROM s.content_key), '{}') AS changed_shots
        FROM keyfarm.shots s
        LEFT JOIN keyfarm.shots p ON p.shot_list_id = l.replaces_id AND p.shot_key = s.shot_key
        WHERE s.shot_list_id = l.id
    ) x
    CROSS JOIN LATERAL (
        SELECT count(*)::int AS jobs,
               count(*) FILTER (WHERE jj.spec ? 'reuse')::int AS jobs_reuse_planned,
               count(*) FILTER (WHERE fa.outcome = 'reused')::int AS jobs_reused,
               count(*) FILTER (WHERE fa.outcome = 'succeeded' AND jj.kind = 'segment')::int AS jobs_rendered
        FROM keyfarm.jobs jj
        LEFT JOIN keyfarm.attempts fa ON fa.job_id = jj.id AND fa.attempt = jj.attempts
        WHERE jj.shot_list_id = l.id
    ) j;

    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_revisions TO keyfarm_coordinator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_coordinator grants skipped: the role does not exist';
    END
    $do$;
    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_revisions TO keyfarm_operator;
        GRANT UPDATE (review_state, review_note, reviewed_at, reviewed_by) ON keyfarm.shots TO keyfarm_operator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_operator grants skipped: the role does not exist';
    END
    $do$;
    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_revisions TO keyfarm_dashboard;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard grants skipped: the role does not exist';
    END
    $do$;
    """#)
}
