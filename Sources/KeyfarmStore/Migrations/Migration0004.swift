extension Migration {
    /// Budgets: a provider job's estimate is reserved against its shot list's and project's
    /// budgets before dispatch (or the job waits as `blocked`); results settle reservations.
    /// The ledger becomes append-only and keeps running totals on each shot list.
    static let budgets = Migration(version: 4, name: "budgets", sql: #"""
    ALTER TABLE keyfarm.jobs DROP CONSTRAINT jobs_state_check;
    ALTER TABLE keyfarm.jobs ADD CONSTRAINT jobs_state_check
        CHECK (state IN ('waiting', 'queued', 'blocked', 'leased', 'running', 'succeeded', 'failed', 'cancelled'));
    ALTER TABLE keyfarm.jobs ADD COLUMN blocked_reason text;
    CREATE INDEX jobs_blocked ON keyfarm.jobs (shot_list_id, estimated_credits) WHERE state = 'blocked';

    ALTER TABLE keyfarm.credit_ledger DROP CONSTRAINT credit_ledger_entry_check;
    ALTER TABLE keyfarm.credit_ledger ADD CONSTRAINT credit_ledger_entry_check
        CHECK (entry IN ('charge', 'refund', 'adjustment', 'reserve', 'release'));
    ALTER TABLE keyfarm.credit_ledger DROP CONSTRAINT credit_ledger_check;
    ALTER TABLE keyfarm.credit_ledger ADD CONSTRAINT credit_ledger_sign_check
        CHECK ((entry IN ('charge', 'reserve') AND credits >= 0) OR (entry IN ('refund', 'release') AND credits <= 0)
               OR entry = 'adjustment');
    -- An attempt reserves once and releases once.
    CREATE UNIQUE INDEX credit_ledger_reservation_once ON keyfarm.credit_ledger (attempt_id, entry)
        WHERE entry IN ('reserve', 'release');

    -- Running totals, kept by the ledger's trigger: spent = charges + refunds + adjustments,
    -- reserved = reservations not yet released.
    ALTER TABLE keyfarm.shot_lists ADD COLUMN spent_credits bigint NOT NULL DEFAULT 0;
    ALTER TABLE keyfarm.shot_lists ADD COLUMN reserved_credits bigint NOT NULL DEFAULT 0;
    UPDATE keyfarm.shot_lists l SET spent_credits = COALESCE((SELECT sum(c.credits) FROM keyfarm.credit_ledger c
                                                              WHERE c.shot_list_id = l.id), 0);

    CREATE TABLE keyfarm.project_budgets (
        project        text PRIMARY KEY,
        budget_credits bigint NOT NULL CHECK (budget_credits >= 0),
        updated_at     timestamptz NOT NULL DEFAULT now()
    );

    CREATE FUNCTION keyfarm.credit_ledger_totals() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        IF NEW.entry IN ('reserve', 'release') THEN
            UPDATE keyfarm.shot_lists SET reserved_credits = reserved_credits + NEW.credits WHERE id = NEW.shot_list_id;
        ELSE
            UPDATE keyfarm.shot_lists SET spent_credits = spent_credits + NEW.credits WHERE id = NEW.shot_list_id;
        END IF;
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER credit_ledger_totals AFTER INSERT ON keyfarm.credit_ledger
        FOR EACH ROW EXECUTE FUNCTION keyfarm.credit_ledger_totals();

    CREATE FUNCTION keyfarm.credit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        RAISE EXCEPTION 'the credit ledger is append-only: add a refund or adjustment entry instead';
    END
    $fn$;
    CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON keyfarm.credit_ledger
        FOR EACH ROW EXECUTE FUNCTION keyfarm.credit_ledger_append_only();

    CREATE OR REPLACE VIEW keyfarm.v_jobs AS
    SELECT j.id, l.id AS shot_list_id, l.project, l.name AS shot_list, s.shot_key AS shot, j.job_key, j.kind,
           j.segment_index, j.part, j.part_count AS parts, j.engine,
           CASE WHEN j.state = 'queued' AND j.not_before > now() THEN 'retry_wait' ELSE j.state END AS state,
           j.priority, j.attempts, j.max_attempts, w.name AS worker, j.progress, j.start_frame, j.end_frame,
           j.estimated_credits,
           COALESCE((SELECT sum(c.credits) FROM keyfarm.credit_ledger c WHERE c.job_id = j.id
                        AND c.entry IN ('charge', 'refund', 'adjustment')), 0)::bigint AS spent_credits,
           j.not_before, j.last_error_class, j.last_error, j.artifact_path, j.created_at, j.updated_at, j.finished_at,
           j.blocked_reason
    FROM keyfarm.jobs j
    JOIN keyfarm.shots s ON s.id = j.shot_id
    JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
    LEFT JOIN keyfarm.workers w ON w.id = j.worker_id;

    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_jobs, keyfarm.project_budgets TO keyfarm_dashboard;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard grant skipped';
    END
    $do$;
    """#)
}
