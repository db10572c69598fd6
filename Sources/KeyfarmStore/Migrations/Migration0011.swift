extension Migration {
    /// Retention for attempt logs: the coordinator empties the tails of logs older than its
    /// `--log-retention` (30 days by default), keeping the row, so `keyfarm logs` can say the
    /// log was pruned and when, rather than that the attempt logged nothing. Each tail is at
    /// most 64 KiB; without this the table grew by that much per attempt for ever.
    static let attemptLogRetention = Migration(version: 11, name: "attempt log retention", sql: #"""
    ALTER TABLE keyfarm.attempt_logs ADD COLUMN pruned_at timestamptz;
    -- The pruning scan: the oldest tails not yet pruned.
    CREATE INDEX attempt_logs_unpruned ON keyfarm.attempt_logs (recorded_at) WHERE pruned_at IS NULL;

    DO $do$
    BEGIN
        GRANT UPDATE (tail, pruned_at) ON keyfarm.attempt_logs TO keyfarm_coordinator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_coordinator grants skipped: the role does not exist';
    END
    $do$;
    """#)
}
