extension Migration {
    /// The farm's first schema: shot lists, shots, keyframes, jobs as a DAG, attempts, workers,
    /// the credit ledger, and the dashboard views documented in ops/dashboards/SCHEMA.md.
    static let initial = Migration(version: 1, name: "initial schema", sql: #"""
    CREATE TABLE keyfarm.shot_lists (
        id                bigserial PRIMARY KEY,
        project           text NOT NULL,
        name              text NOT NULL,
        -- The operator's intent; whether it succeeded or failed is derived from its jobs.
        state             text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'cancelled', 'replaced')),
        budget_credits    bigint CHECK (budget_credits >= 0),
        estimated_credits bigint NOT NULL DEFAULT 0,
        source_path       text NOT NULL,
        source_sha256     text NOT NULL,
        plan              jsonb NOT NULL,
        submitted_by      text NOT NULL DEFAULT current_user,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
    );
    -- One live list per name and project; replaced lists stay for the ledger's sake.
    CREATE UNIQUE INDEX shot_lists_live_name ON keyfarm.shot_lists (project, name) WHERE state <> 'replaced';

    CREATE TABLE keyfarm.shots (
        id               bigserial PRIMARY KEY,
        shot_list_id     bigint NOT NULL REFERENCES keyfarm.shot_lists (id),
        position         int NOT NULL,
        shot_key         text NOT NULL,
        duration_seconds numeric NOT NULL CHECK (duration_seconds > 0 AND duration_seconds <= 20),
        fps_num          int NOT NULL,
        fps_den          int NOT NULL,
        frames           int NOT NULL CHECK (frames >= 2),
        resolution       text NOT NULL,
        aspect           text NOT NULL,
        width            int NOT NULL,
        height           int NOT NULL,
        outputs          text[] NOT NULL,
        seam             int NOT NULL,
        priority         int NOT NULL,
        max_attempts     int NOT NULL,
        UNIQUE (shot_list_id, shot_key),
        UNIQUE (shot_list_id, position)
    );

    CREATE TABLE keyfarm.keyframes (
        shot_id    bigint NOT NULL REFERENCES keyfarm.shots (id),
        position   int NOT NULL,
        at_seconds numeric NOT NULL,
        frame      int NOT NULL,
        image      text,
        prompt     text,
        PRIMARY KEY (shot_id, position)
    );

    CREATE TABLE keyfarm.workers (
        id           bigserial PRIMARY KEY,
        name         text NOT NULL UNIQUE,
        host         text,
        version      text,
        engines      text[] NOT NULL DEFAULT '{}',
        slots        int NOT NULL DEFAULT 1 CHECK (slots >= 0),
        state        text NOT NULL DEFAULT 'offline' CHECK (state IN ('ready', 'busy', 'draining', 'lost', 'offline')),
        connected_at timestamptz,
        last_seen_at timestamptz,
        created_at   timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE keyfarm.jobs (
        id                   bigserial PRIMARY KEY,
        shot_list_id         bigint NOT NULL REFERENCES keyfarm.shot_lists (id),
        shot_id              bigint NOT NULL REFERENCES keyfarm.shots (id),
        job_key              text NOT NULL,
        kind                 text NOT NULL CHECK (kind IN ('segment', 'stitch')),
        segment_index        int,
        part                 int NOT NULL DEFAULT 1,
        part_count           int NOT NULL DEFAULT 1,
        start_frame          int NOT NULL,
        end_frame            int NOT NULL CHECK (end_frame >= start_frame),
        engine               text,
        -- The capability a worker must offer: the engine's name, or 'stitch'.
        requires             text NOT NULL,
        duration_bucket      int,
        spec                 jsonb NOT NULL,
        -- waiting: dependencies pending; queued: ready (not before not_before); leased: sent to a
        -- worker; running: the worker accepted it; then succeeded, failed or cancelled.
        state                text NOT NULL CHECK (state IN ('waiting', 'queued', 'leased', 'running', 'succeeded', 'failed', 'cancelled')),
        priority             int NOT NULL CHECK (priority BETWEEN 0 AND 100),
        attempts             int NOT NULL DEFAULT 0,
        max_attempts         int NOT NULL CHECK (max_attempts BETWEEN 1 AND 10),
        not_before           timestamptz NOT NULL DEFAULT now(),
        pending_dependencies int NOT NULL DEFAULT 0 CHECK (pending_dependencies >= 0),
        estimated_credits    bigint NOT NULL DEFAULT 0,
        worker_id            bigint REFERENCES keyfarm.workers (id),
        lease_expires_at     timestamptz,
        progress             real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
        artifact_path        text,
        artifact_sha256      text,
        last_error           text,
        last_error_class     text,
        queued_at            timestamptz,
        created_at           timestamptz NOT NULL DEFAULT now(),
        updated_at           timestamptz NOT NULL DEFAULT now(),
        finished_at          timestamptz,
        UNIQUE (shot_list_id, job_key)
    );
    -- The claim reads only ready jobs, highest priority first, then oldest.
    CREATE INDEX jobs_claimable ON keyfarm.jobs (priority DESC, queued_at, id) WHERE state = 'queued';
    CREATE INDEX jobs_by_shot ON keyfarm.jobs (shot_id);
    -- (Lookups by shot list use the unique index on (shot_list_id, job_key).)
    CREATE INDEX jobs_leased ON keyfarm.jobs (worker_id) WHERE state IN ('leased', 'running');

    CREATE TABLE keyfarm.job_dependencies (
        job_id     bigint NOT NULL REFERENCES keyfarm.jobs (id),
        depends_on bigint NOT NULL REFERENCES keyfarm.jobs (id),
        PRIMARY KEY (job_id, depends_on),
        CHECK (job_id <> depends_on)
    );
    CREATE INDEX job_dependencies_reverse ON keyfarm.job_dependencies (depends_on);

    CREATE TABLE keyfarm.attempts (
        id                  bigserial PRIMARY KEY,
        job_id              bigint NOT NULL REFERENCES keyfarm.jobs (id),
        attempt             int NOT NULL CHECK (attempt >= 1),
        worker_id           bigint REFERENCES keyfarm.workers (id),
        started_at          timestamptz NOT NULL DEFAULT now(),
        lease_expires_at    timestamptz,
        finished_at         timestamptz,
        outcome             text CHECK (outcome IN ('succeeded', 'failed', 'lost', 'cancelled', 'handed_back')),
        error_class         text CHECK (error_class IN ('transient', 'rate_limited', 'provider_failed', 'invalid', 'lost', 'cancelled')),
        error               text,
        provider            text,
        provider_request_id text,
        artifact_path       text,
        artifact_sha256     text,
        credits             bigint NOT NULL DEFAULT 0,
        UNIQUE (job_id, attempt)
    );
    CREATE INDEX attempts_by_provider_request ON keyfarm.attempts (provider, provider_request_id)
        WHERE provider_request_id IS NOT NULL;

    -- Every credit spent or refunded, one row per event; never updated, never deleted.
    CREATE TABLE keyfarm.credit_ledger (
        id                  bigserial PRIMARY KEY,
        recorded_at         timestamptz NOT NULL DEFAULT now(),
        shot_list_id        bigint NOT NULL REFERENCES keyfarm.shot_lists (id),
        job_id              bigint REFERENCES keyfarm.jobs (id),
        attempt_id          bigint REFERENCES keyfarm.attempts (id),
        engine              text,
        provider            text NOT NULL,
        provider_request_id text,
        entry               text NOT NULL CHECK (entry IN ('charge', 'refund', 'adjustment')),
        credits             bigint NOT NULL,
        note                text,
        CHECK ((entry = 'charge' AND credits >= 0) OR (entry = 'refund' AND credits <= 0) OR entry = 'adjustment')
    );
    -- A provider generation is charged at most once and refunded at most once.
    CREATE UNIQUE INDEX credit_ledger_once ON keyfarm.credit_ledger (provider, provider_request_id, entry)
        WHERE provider_request_id IS NOT NULL AND entry IN ('charge', 'refund');
    CREATE INDEX credit_ledger_by_list ON keyfarm.credit_ledger (shot_list_id);
    CREATE INDEX credit_ledger_by_job ON keyfarm.credit_ledger (job_id);

    -- Dashboard contract (ops/dashboards/SCHEMA.md). Columns are only ever added, never renamed.
    CREATE VIEW keyfarm.v_jobs AS
    SELECT j.id, l.id AS shot_list_id, l.project, l.name AS shot_list, s.shot_key AS shot, j.job_key, j.kind,
           j.segment_index, j.part, j.part_count AS parts, j.engine,
           CASE WHEN j.state = 'queued' AND j.not_before > now() THEN 'retry_wait' ELSE j.state END AS state,
           j.priority, j.attempts, j.max_attempts, w.name AS worker, j.progress, j.start_frame, j.end_frame,
           j.estimated_credits,
           COALESCE((SELECT sum(c.credits) FROM keyfarm.credit_ledger c WHERE c.job_id = j.id
                        AND c.entry IN ('charge', 'refund', 'adjustment')), 0)::bigint AS spent_credits,
           j.not_before, j.last_error_class, j.last_error, j.artifact_path, j.created_at, j.updated_at, j.finished_at
    FROM keyfarm.jobs j
    JOIN keyfarm.shots s ON s.id = j.shot_id
    JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
    LEFT JOIN keyfarm.workers w ON w.id = j.worker_id;

    CREATE VIEW keyfarm.v_attempts AS
    SELECT a.job_id, a.attempt, w.name AS worker, a.started_at, a.finished_at, a.outcome, a.error_class, a.error,
           a.provider, a.provider_request_id, a.credits, a.lease_expires_at, a.artifact_path,
           j.job_key, l.project, l.name AS shot_list, s.shot_key AS shot, a.id AS attempt_id
    FROM keyfarm.attempts a
    JOIN keyfarm.jobs j ON j.id = a.job_id
    JOIN keyfarm.shots s ON s.id = j.shot_id
    JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
    LEFT JOIN keyfarm.workers w ON w.id = a.worker_id;

    CREATE VIEW keyfarm.v_workers AS
    SELECT w.id, w.name, w.host, w.version, w.engines, w.slots, w.state, w.connected_at, w.last_seen_at,
           (SELECT count(*) FROM keyfarm.jobs j WHERE j.worker_id = w.id AND j.state IN ('leased', 'running')) AS running_jobs,
           (SELECT count(*) FROM keyfarm.attempts a WHERE a.worker_id = w.id AND a.outcome = 'succeeded') AS succeeded_attempts,
           (SELECT count(*) FROM keyfarm.attempts a WHERE a.worker_id = w.id AND a.outcome IN ('failed', 'lost')) AS failed_attempts,
           (SELECT COALESCE(sum(a.credits), 0) FROM keyfarm.attempts a WHERE a.worker_id = w.id)::bigint AS credits
    FROM keyfarm.workers w;

    CREATE VIEW keyfarm.v_shot_progress AS
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

    CREATE VIEW keyfarm.v_credit_spend AS
    SELECT l.id AS shot_list_id, l.project, l.name AS shot_list, e.engine, e.provider,
           e.estimated_credits, e.charged_credits, e.refunded_credits,
           e.charged_credits + e.refunded_credits + e.adjusted_credits AS net_credits,
           l.budget_credits, e.last_entry_at
    FROM keyfarm.shot_lists l
    CROSS JOIN LATERAL (
        SELECT x.engine, max(x.provider) AS provider,
               sum(x.estimated)::bigint AS estimated_credits,
               sum(x.charged)::bigint AS charged_credits,
               sum(x.refunded)::bigint AS refunded_credits,
               sum(x.adjusted)::bigint AS adjusted_credits,
               max(x.at) AS last_entry_at
        FROM (
            SELECT j.engine, NULL::text AS provider, j.estimated_credits AS estimated,
                   0 AS charged, 0 AS refunded, 0 AS adjusted, NULL::timestamptz AS at
              FROM keyfarm.jobs j WHERE j.shot_list_id = l.id AND j.kind = 'segment'
            UNION ALL
            SELECT c.engine, c.provider, 0,
                   CASE WHEN c.entry = 'charge' THEN c.credits ELSE 0 END,
                   CASE WHEN c.entry = 'refund' THEN c.credits ELSE 0 END,
                   CASE WHEN c.entry = 'adjustment' THEN c.credits ELSE 0 END,
                   c.recorded_at
              FROM keyfarm.credit_ledger c WHERE c.shot_list_id = l.id AND c.entry IN ('charge', 'refund', 'adjustment')
        ) x
        GROUP BY x.engine
    ) e;

    -- A read-only role for dashboards, where this account may create roles. Roles belong to the
    -- whole server, so another database migrating at the same moment may create it first.
    DO $do$
    BEGIN
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'keyfarm_dashboard') THEN
                CREATE ROLE keyfarm_dashboard NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
        GRANT USAGE ON SCHEMA keyfarm TO keyfarm_dashboard;
        GRANT SELECT ON keyfarm.v_jobs, keyfarm.v_attempts, keyfarm.v_workers, keyfarm.v_shot_progress,
                        keyfarm.v_credit_spend TO keyfarm_dashboard;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard role not created: this account may not create roles';
    END
    $do$;
    """#)
}
