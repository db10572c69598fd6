import KeyfarmCore
import KeyfarmPostgres

extension Coordinator {
    /// Empties attempt log tails older than `logRetention`: at start-up, then hourly. A full
    /// batch means more are due, and the next turn prunes another; a statement the database
    /// refuses (a missing grant, say) is logged and tried again an hour later, since keeping
    /// logs longer than meant is no reason to stop dispatching.
    func pruneAttemptLogs() throws {
        guard let retention = configuration.logRetention, now >= nextLogPrune else { return }
        do {
            let pruned = try store.pruneAttemptLogs(olderThan: retention, limit: configuration.logPruneBatch)
            nextLogPrune = pruned == configuration.logPruneBatch ? now : now + 3_600
            if pruned > 0 {
                logger.info("pruned attempt logs past their retention", metadata: [
                    "logs": "\(pruned)", "retention": "\(DurationText.format(retention))"])
            }
        } catch let error as PostgresError where error.isStatementError {
            nextLogPrune = now + 3_600
            logger.warning("cannot prune attempt logs; trying again in an hour", metadata: ["error": "\(error)"])
        }
    }
}
