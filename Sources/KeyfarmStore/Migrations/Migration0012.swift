extension Migration {
    /// Where the operator's last `keyfarm retry` of a job was: its attempts up to this one came
    /// before it. The cap on lost attempts (`RetryPolicy.maxLostAttempts`) counts only the
    /// losses after it, as `max_attempts` counts only the attempts after `attempt_base`; before,
    /// a job retried after ten losses failed again on its next one.
    static let lostAttemptsSinceRetry = Migration(version: 12, name: "lost attempts since retry", sql: #"""
    ALTER TABLE keyfarm.jobs ADD COLUMN retried_after_attempt int NOT NULL DEFAULT 0
        CHECK (retried_after_attempt >= 0);
    """#)
}
