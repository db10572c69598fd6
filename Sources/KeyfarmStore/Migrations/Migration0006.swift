extension Migration {
    /// The deliverables of stitched shots, one row per output, for `keyfarm outputs`,
    /// `keyfarm status` and dashboards.
    static let outputs = Migration(version: 6, name: "stitched outputs", sql: #"""
    -- A stitch job's artifacts are its deliverables: MP4, ProRes .mov, the EXR sequence (named
    -- by its pattern) and manifest.json, each with its frame count.
    CREATE VIEW keyfarm.v_outputs AS
    SELECT l.id AS shot_list_id, l.project, l.name AS shot_list, s.shot_key AS shot, s.position AS shot_position,
           CASE a.item->>'media_type'
                WHEN 'video/mp4' THEN 'mp4'
                WHEN 'video/quicktime' THEN 'prores'
                WHEN 'image/x-exr' THEN 'exr'
                WHEN 'application/json' THEN 'manifest'
                ELSE a.item->>'media_type' END AS format,
           a.item->>'path' AS path,
           COALESCE((a.item->>'frames')::int, 0) AS frames,
           COALESCE((a.item->>'bytes')::bigint, 0) AS bytes,
           a.item->>'sha256' AS sha256,
           a.ordinality::int AS position,
           j.id AS job_id, j.attempts AS attempt, j.finished_at AS stitched_at
    FROM keyfarm.jobs j
    JOIN keyfarm.shots s ON s.id = j.shot_id
    JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
    CROSS JOIN LATERAL jsonb_array_elements(j.artifacts) WITH ORDINALITY AS a(item, ordinality)
    WHERE j.kind = 'stitch' AND j.state = 'succeeded';

    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.v_outputs TO keyfarm_dashboard;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard grant skipped';
    END
    $do$;
    """#)
}
