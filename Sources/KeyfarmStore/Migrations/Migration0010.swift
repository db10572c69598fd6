extension Migration {
    /// Attempts the coordinator stopped: `timeout` (past its engine's attempt timeout) and
    /// `stalled` (no progress for the stall timeout) join the error classes an attempt may have.
    ///
    /// Version 10: 8 and 9 are taken by work on other branches (CURVE keys, watch and logs).
    static let attemptTimeouts = Migration(version: 10, name: "attempt timeouts", sql: #"""
    ALTER TABLE keyfarm.attempts DROP CONSTRAINT attempts_error_class_check;
    ALTER TABLE keyfarm.attempts ADD CONSTRAINT attempts_error_class_check CHECK (error_class IN (
        'transient', 'rate_limited', 'provider_failed', 'invalid', 'lost', 'cancelled', 'timeout', 'stalled'));
    """#)
}
