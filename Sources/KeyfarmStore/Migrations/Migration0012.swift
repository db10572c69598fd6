extension Migration {
    /// What an operator's `keyfarm retry` of a job starts afresh.
    ///
    /// `retried_after_attempt`: the job's attempts up to this one came before the last retry.
    /// The cap on lost attempts (`RetryPolicy.maxLostAttempts`) counts only the losses after it,
    /// as `max_attempts` counts only the attempts after `attempt_base`; before, a job retried
    /// after ten losses failed again on its next one.
    ///
    /// `fresh_after_attempt`: set by `keyfarm retry --fresh`; no attempt resumes a provider
    /// request submitted by an attempt up to this one (a generation stuck at the provider would
    /// otherwise be resumed, and time out, on every retry).
    static let operatorRetries = Migration(version: 12, name: "operator retries", sql: #"""
    ALTER TABLE keyfarm.jobs
        ADD COLUMN retried_after_attempt int NOT NULL DEFAULT 0 CHECK (retried_after_attempt >= 0),
        ADD COLUMN fresh_after_attempt int NOT NULL DEFAULT 0 CHECK (fresh_after_attempt >= 0);
    """#)
}
