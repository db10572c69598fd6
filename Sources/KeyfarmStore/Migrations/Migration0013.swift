extension Migration {
    /// Where deliverables really are, HDR10 masters among them, and provider accounts the
    /// provider itself stopped.
    ///
    /// `workers.storage_root`: the storage root a worker mounts, from its HELLO; a stitch's
    /// artifacts record the root of the worker that wrote them, and `v_outputs.storage_root`
    /// shows it, so `keyfarm outputs` prints real paths without `--storage`.
    ///
    /// `provider_accounts.suspended_at` / `suspended_reason`: a provider that answered for the
    /// account rather than the job (Luma's `budget_exhausted`) is suspended: the claim
    /// dispatches none of its jobs until an operator resumes it (`keyfarm providers resume`).
    static let storageRootsAndSuspensions = Migration(version: 13, name: "storage roots and provider suspensions", sql: #"""
    ALTER TABLE keyfarm.workers ADD COLUMN storage_root text;
    ALTER TABLE keyfarm.provider_accounts
        ADD COLUMN suspended_at timestamptz,
        ADD COLUMN suspended_reason text CHECK (suspended_reason IS NULL OR length(suspended_reason) <= 2000);

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
                      WHERE b.worker_id = w.id AND b.blocked_at IS NOT NULL), '{}') AS blocklisted_shots,
           w.storage_root
    FROM keyfarm.workers w;

    CREATE OR REPLACE VIEW keyfarm.v_provider_accounts AS
    SELECT pa.provider, pa.max_concurrent, pa.creates_per_minute, pa.failed_generations, pa.updated_at,
           (SELECT count(*) FROM keyfarm.jobs r
             WHERE r.state IN ('leased', 'running') AND r.requires LIKE pa.provider || '/%')::int AS in_flight,
           (SELECT count(*) FROM keyfarm.attempts a
             WHERE a.provider = pa.provider AND a.started_at > now() - interval '1 minute')::int AS started_last_minute,
           pa.suspended_at, pa.suspended_reason
    FROM keyfarm.provider_accounts pa;

    CREATE OR REPLACE VIEW keyfarm.v_outputs AS
    SELECT l.id AS shot_list_id, l.project, l.name AS shot_list, s.shot_key AS shot, s.position AS shot_position,
           CASE a.item->>'media_type'
                WHEN 'video/mp4' THEN 'mp4'
                WHEN 'video/quicktime' THEN 'prores'
                WHEN 'image/x-exr' THEN 'exr'
                WHEN 'video/mp4; profile=hdr10' THEN 'hdr10'
                WHEN 'application/json' THEN 'manifest'
                ELSE a.item->>'media_type' END AS format,
           a.item->>'path' AS path,
           COALESCE((a.item->>'frames')::int, 0) AS frames,
           COALESCE((a.item->>'bytes')::bigint, 0) AS bytes,
           a.item->>'sha256' AS sha256,
           a.ordinality::int AS position,
           j.id AS job_id, j.attempts AS attempt, j.finished_at AS stitched_at,
           a.item->>'storage_root' AS storage_root
    FROM keyfarm.jobs j
    JOIN keyfarm.shots s ON s.id = j.shot_id
    JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
    CROSS JOIN LATERAL jsonb_array_elements(j.artifacts) WITH ORDINALITY AS a(item, ordinality)
    WHERE j.kind = 'stitch' AND j.state = 'succeeded';

    -- Keyframe images a provider keeps (Luma Agents' Files API), by content: uploaded once per
    -- account, named by id in every generation after; forgotten when the provider says the
    -- file is gone (a worker then uploads it again and reports the new id).
    CREATE TABLE keyfarm.provider_files (
        provider    text NOT NULL,
        sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        file_id     text NOT NULL CHECK (length(file_id) BETWEEN 1 AND 200),
        uploaded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (provider, sha256)
    );
    DO $do$
    BEGIN
        GRANT SELECT, INSERT, UPDATE ON keyfarm.provider_files TO keyfarm_coordinator;
        GRANT SELECT ON keyfarm.provider_files TO keyfarm_operator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'provider_files grants skipped: the roles do not exist';
    END
    $do$;

    -- The coordinator suspends an account the provider stopped (and nothing else of it: limits
    -- and policies stay the operators'); operators resume it.
    DO $do$
    BEGIN
        GRANT INSERT (provider, suspended_at, suspended_reason), UPDATE (suspended_at, suspended_reason, updated_at)
            ON keyfarm.provider_accounts TO keyfarm_coordinator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_coordinator grants skipped: the role does not exist';
    END
    $do$;
    """#)
}
