import KeyfarmCore
import KeyfarmPostgres
import KeyfarmWire

extension Coordinator {
    /// After the database connection is lost (PostgreSQL restarted, a network blip): forgets
    /// every worker and everything the lost turn had in hand, as a restart would, then
    /// reconnects, every half second at first and then every 2 s, until it can or `stop` is
    /// triggered (false then). Nothing held in memory was committed: RESULTs not acknowledged
    /// are sent again by their workers, and ASSIGNs of the lost turn were never sent. The socket
    /// stays bound, so workers keep their connections. Back, the coordinator stands by and tries
    /// for the lease (its own lease it takes again at once, at a new epoch): leading, it answers
    /// their next message "unknown worker", and their HELLO, reconciled with the database, takes
    /// them back; standing by, it points them to the leader.
    func rideOutDatabaseLoss(_ error: PostgresError, until stop: StopSignal, onTurn: () -> Void) throws -> Bool {
        logger.error("lost the database; forgetting every worker until it is back, as a restart would",
                     metadata: ["error": "\(error)", "workers": "\(dispatcher.roster.members.count)"])
        forgetEverything()
        let started = now
        var delay = 0.5
        var tries = 0
        while true {
            let poller = ZMQPoller()
            let stopItem = poller.add(.descriptor(stop.descriptor))
            if try poller.poll(timeout: .milliseconds(Int64(delay * 1000))).contains(stopItem) { return false }
            onTurn()
            tries += 1
            do {
                try store.connection.reconnect()
                try store.migrator.requireCurrent()
                logger.info("reconnected to the database", metadata: [
                    "tries": "\(tries)", "seconds": "\(Int((now - started).rounded()))"])
                return true
            } catch let failure as PostgresError where !store.connection.isOpen {
                // The first failure, then every tenth: a long outage does not flood the journal.
                if tries == 1 || tries % 10 == 0 {
                    logger.warning("cannot reach the database yet; still trying", metadata: [
                        "tries": "\(tries)", "error": "\(failure)"])
                }
                // A restarting server is back within seconds; a long outage needs no faster tries.
                delay = min(delay * 2, 2)
            }
        }
    }

    /// Drops all in-memory state about workers and attempts, and the current turn's batches.
    func forgetEverything() {
        _ = dispatcher.handle(.databaseLost, now: now)
        outbox.removeAll()
        holdingSends = false
    }
}
