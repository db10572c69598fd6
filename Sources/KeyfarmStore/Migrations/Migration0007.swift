extension Migration {
    /// Database roles: `keyfarm_coordinator` (the coordinator's statements), `keyfarm_operator`
    /// (the CLI's) and `keyfarm_dashboard` narrowed to the documented views, plus two views
    /// dashboards need in place of the tables they lose (the ledger by entry, budgets).
    ///
    /// The roles are NOLOGIN groups: each process gets a login that is a member of one. A later
    /// migration that adds a table or a view grants it, as this one does, to the roles that
    /// need it; the dashboard role only ever gets documented views.
    static let roles = Migration(version: 7, name: "roles", sql: #"""
    -- One row per ledger entry, for spend over time (dashboards may not read the ledger itself).
    CREATE VIEW keyfarm.v_credit_ledger AS
    SELECT c.id, c.recorded_at, c.shot_list_id, l.project, l.name AS shot_list, j.job_key, c.engine, c.provider,
           c.provider_request_id, c.entry, c.credits, c.note
    FROM keyfarm.credit_ledger c
    JOIN keyfarm.shot_lists l ON l.id = c.shot_list_id
    LEFT JOIN keyfarm.jobs j ON j.id = c.job_id;

    -- Every budget with what counts against it, as the claim counts it: a shot list's own
    -- spend and reservations, or all of a project's lists' (replaced ones included).
    CREATE VIEW keyfarm.v_budgets AS
    SELECT 'shot_list'::text AS scope, l.project, l.name AS shot_list, l.id AS shot_list_id, l.budget_credits,
           l.spent_credits, l.reserved_credits,
           l.budget_credits - l.spent_credits - l.reserved_credits AS remaining_credits, l.updated_at
    FROM keyfarm.shot_lists l
    WHERE l.budget_credits IS NOT NULL AND l.state <> 'replaced'
    UNION ALL
    SELECT 'project', pb.project, NULL, NULL, pb.budget_credits, t.spent, t.reserved,
           pb.budget_credits - t.spent - t.reserved, pb.updated_at
    FROM keyfarm.project_budgets pb
    CROSS JOIN LATERAL (
        SELECT COALESCE(sum(l.spent_credits), 0)::bigint AS spent, COALESCE(sum(l.reserved_credits), 0)::bigint AS reserved
        FROM keyfarm.shot_lists l WHERE l.project = pb.project
    ) t;

    -- The roles, where this account may create roles (else a DBA creates them, see
    -- ops/dashboards/SCHEMA.md, and the grants below still apply). Roles belong to the whole
    -- server, so another database migrating at the same moment may create one first.
    DO $do$
    DECLARE
        name text;
    BEGIN
        FOREACH name IN ARRAY ARRAY['keyfarm_coordinator', 'keyfarm_operator', 'keyfarm_dashboard'] LOOP
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
                    EXECUTE format('CREATE ROLE %I NOLOGIN', name);
                END IF;
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL;
                WHEN insufficient_privilege THEN
                    RAISE NOTICE '% role not created: this account may not create roles', name;
            END;
        END LOOP;
    END
    $do$;

    -- The coordinator: registers workers, claims and leases jobs, records attempts, progress,
    -- provider requests and results, books charges and reservations (whose trigger keeps the
    -- shot lists' running totals), and counts failures for the blocklist. It deletes nothing.
    DO $do$
    BEGIN
        GRANT USAGE ON SCHEMA keyfarm TO keyfarm_coordinator;
        GRANT SELECT ON keyfarm.schema_migrations, keyfarm.shots, keyfarm.keyframes, keyfarm.job_dependencies,
                        keyfarm.project_budgets, keyfarm.provider_accounts TO keyfarm_coordinator;
        GRANT SELECT, UPDATE ON keyfarm.shot_lists, keyfarm.jobs TO keyfarm_coordinator;
        GRANT SELECT, INSERT, UPDATE ON keyfarm.workers, keyfarm.attempts, keyfarm.worker_shot_failures TO keyfarm_coordinator;
        GRANT SELECT, INSERT ON keyfarm.credit_ledger TO keyfarm_coordinator;
        GRANT USAGE ON SEQUENCE keyfarm.workers_id_seq, keyfarm.attempts_id_seq, keyfarm.credit_ledger_id_seq
            TO keyfarm_coordinator;
        GRANT SELECT ON keyfarm.v_jobs, keyfarm.v_attempts, keyfarm.v_workers, keyfarm.v_shot_progress,
                        keyfarm.v_credit_spend, keyfarm.v_provider_accounts, keyfarm.v_credit_ledger, keyfarm.v_budgets,
                        keyfarm.v_outputs
            TO keyfarm_coordinator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_coordinator grants skipped: the role does not exist';
    END
    $do$;

    -- The CLI: submit (and --replace), status, watch, cancel, retry, smoke, workers, drain,
    -- prices, credits, budget and providers. Not migrate: that stays with the schema's owner.
    DO $do$
    BEGIN
        GRANT USAGE ON SCHEMA keyfarm TO keyfarm_operator;
        GRANT SELECT ON keyfarm.schema_migrations, keyfarm.worker_shot_failures TO keyfarm_operator;
        GRANT SELECT, INSERT ON keyfarm.shots, keyfarm.keyframes, keyfarm.job_dependencies, keyfarm.credit_ledger
            TO keyfarm_operator;
        GRANT SELECT, INSERT, UPDATE ON keyfarm.shot_lists, keyfarm.jobs, keyfarm.accounts, keyfarm.provider_accounts
            TO keyfarm_operator;
        GRANT SELECT, UPDATE ON keyfarm.attempts, keyfarm.workers TO keyfarm_operator;
        GRANT SELECT, INSERT, UPDATE, DELETE ON keyfarm.prices, keyfarm.project_budgets TO keyfarm_operator;
        GRANT USAGE ON SEQUENCE keyfarm.shot_lists_id_seq, keyfarm.shots_id_seq, keyfarm.jobs_id_seq,
                                keyfarm.credit_ledger_id_seq TO keyfarm_operator;
        GRANT SELECT ON keyfarm.v_jobs, keyfarm.v_attempts, keyfarm.v_workers, keyfarm.v_shot_progress,
                        keyfarm.v_credit_spend, keyfarm.v_provider_accounts, keyfarm.v_credit_ledger, keyfarm.v_budgets,
                        keyfarm.v_outputs
            TO keyfarm_operator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_operator grants skipped: the role does not exist';
    END
    $do$;

    -- Dashboards: the documented views and nothing else. Earlier migrations also gave it the
    -- prices, accounts and project budgets tables; ALL TABLES takes those (and any view) back.
    DO $do$
    BEGIN
        REVOKE ALL ON ALL TABLES IN SCHEMA keyfarm FROM keyfarm_dashboard;
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA keyfarm FROM keyfarm_dashboard;
        GRANT USAGE ON SCHEMA keyfarm TO keyfarm_dashboard;
        GRANT SELECT ON keyfarm.v_jobs, keyfarm.v_attempts, keyfarm.v_workers, keyfarm.v_shot_progress,
                        keyfarm.v_credit_spend, keyfarm.v_provider_accounts, keyfarm.v_credit_ledger, keyfarm.v_budgets,
                        keyfarm.v_outputs
            TO keyfarm_dashboard;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard grants skipped: the role does not exist';
    END
    $do$;
    """#)
}
