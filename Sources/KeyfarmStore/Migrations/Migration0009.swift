extension Migration {
    /// The tail of each attempt's worker-side log, for `keyfarm logs`: what the engine logged
    /// while it ran (provider polling, interpolation, stitching), sent with the RESULT and kept
    /// bounded (the worker and the store each keep at most the last 64 KiB).
    ///
    /// A table of its own rather than a column of `attempts`: attempts rows stay narrow for the
    /// claim and the views that scan them, and operators may prune logs without touching history.
    static let attemptLogs = Migration(version: 9, name: "attempt logs", sql: #"""
    CREATE TABLE keyfarm.attempt_logs (
        attempt_id    bigint PRIMARY KEY REFERENCES keyfarm.attempts (id) ON DELETE CASCADE,
        -- The last lines the worker kept, oldest first, newline-separated.
        tail          text NOT NULL,
        -- Lines the worker logged for the attempt, and how many of them are not in `tail`.
        lines         int NOT NULL DEFAULT 0 CHECK (lines >= 0),
        dropped_lines int NOT NULL DEFAULT 0 CHECK (dropped_lines >= 0),
        recorded_at   timestamptz NOT NULL DEFAULT now()
    );

    -- The coordinator writes logs with results; the CLI reads them (`keyfarm logs`). Dashboards
    -- read documented views only, and this table is none.
    DO $do$
    BEGIN
        GRANT SELECT, INSERT ON keyfarm.attempt_logs TO keyfarm_coordinator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_coordinator grants skipped: the role does not exist';
    END
    $do$;
    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.attempt_logs TO keyfarm_operator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_operator grants skipped: the role does not exist';
    END
    $do$;
    """#)
}
