import Foundation
import Synchronization
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmTestSupport
import Testing

/// The coordinator lease against a real PostgreSQL: one holder at a time, an epoch that grows
/// at every takeover, and a fence that refuses a deposed leader's commits.
@Suite struct LeaseStoreTests {
    let a = CoordinatorIdentity(instance: "aaaa", host: "host-a", pid: 11, endpoint: "tcp://a:5555", version: "t")
    let b = CoordinatorIdentity(instance: "bbbb", host: "host-b", pid: 22, endpoint: "tcp://b:5555", version: "t")

    /// Two coordinators, each with its own connection to one database.
    func twoStores() throws -> (FarmStore, FarmStore) {
        let database = try TestPostgres.freshDatabase()
        let first = try FarmStore(conninfo: database, logger: testLogger)
        try first.migrate()
        return (first, try FarmStore(conninfo: database, logger: testLogger))
    }

    /// Moves the lease's expiry into the past, as time passing without renewal would.
    func expire(_ store: FarmStore) throws {
        try store.connection.execute("UPDATE keyfarm.coordinator_lease SET expires_at = now() - interval '1 second'")
    }

    /// Runs `b`'s try for the lease on a connection and thread of its own. Once that try waits
    /// on a row lock, checks that it has not answered, calls `release` (which ends the
    /// transaction holding the lock), and returns what the try then said.
    func standbyTryBlockedUntil(_ database: String, release: () throws -> Void) throws -> LeaseTry? {
        let result = Mutex<LeaseTry?>(nil)
        let standby = b
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { done.signal() }
            guard let second = try? FarmStore(conninfo: database, logger: testLogger) else { return }
            let answer = try? second.tryLease(standby, seconds: 30)
            result.withLock { $0 = answer }
        }
        let observer = try FarmStore(conninfo: database, logger: testLogger)
        let waiting = try eventually(timeout: .seconds(10)) {
            try observer.connection.execute("""
                SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%coordinator_lease%'
                """).rows[0].decode("n", as: Int.self) == 1
        }
        #expect(waiting)
        #expect(result.withLock { $0 } == nil, "the try answered while the lock was held")
        try release()
        #expect(done.wait(timeout: .now() + 10) == .success)
        return result.withLock { $0 }
    }

    @Test func oneHoldsTheLeaseUntilItExpiresAndEveryTakeoverRaisesTheEpoch() throws {
        let (first, second) = try twoStores()
        #expect(try first.tryLease(a, seconds: 30) == .acquired(epoch: 1))
        #expect(try second.tryLease(b, seconds: 30) == .heldByOther(endpoint: "tcp://a:5555", epoch: 1))
        #expect(try first.renewLease(instance: "aaaa", epoch: 1, seconds: 30))
        // Taking its own lease again (after a lost connection) is a takeover too: a new epoch.
        #expect(try first.tryLease(a, seconds: 30) == .acquired(epoch: 2))
        #expect(try !first.renewLease(instance: "aaaa", epoch: 1, seconds: 30))
        try expire(first)
        #expect(try second.tryLease(b, seconds: 30) == .acquired(epoch: 3))
        #expect(try !first.renewLease(instance: "aaaa", epoch: 2, seconds: 30))
        #expect(try first.tryLease(a, seconds: 30) == .heldByOther(endpoint: "tcp://b:5555", epoch: 3))
        let roles = Dictionary(uniqueKeysWithValues: try first.coordinators(within: 60).map { ($0.instance, ($0.role, $0.epoch)) })
        #expect(roles["bbbb"]?.0 == "leader" && roles["bbbb"]?.1 == 3)
        #expect(roles["aaaa"]?.0 == "standby" && roles["aaaa"]?.1 == 2)
        // A clean stop gives the lease up at once, and says so.
        try second.releaseLease(instance: "bbbb", epoch: 3)
        try second.markCoordinator(instance: "bbbb", stopped: true)
        #expect(try first.tryLease(a, seconds: 30) == .acquired(epoch: 4))
        #expect(try first.coordinators(within: 60).first { $0.instance == "bbbb" }?.role == "stopped")
    }

    @Test func aDeposedLeadersTransactionCommitsNothing() throws {
        let (first, second) = try twoStores()
        #expect(try first.tryLease(a, seconds: 30) == .acquired(epoch: 1))
        first.connection.commitGuard = { connection in try FarmStore.fence(connection, instance: "aaaa", epoch: 1) }
        try first.connection.execute("CREATE TABLE public.writes (n int)")
        try first.connection.transaction { connection in try connection.execute("INSERT INTO public.writes VALUES (1)") }
        try expire(second)
        #expect(try second.tryLease(b, seconds: 30) == .acquired(epoch: 2))
        #expect(throws: LeadershipLost.self) {
            try first.connection.transaction { connection in try connection.execute("INSERT INTO public.writes VALUES (2)") }
        }
        #expect(try second.connection.execute("SELECT array_agg(n ORDER BY n)::text AS n FROM public.writes").rows[0]["n"] == "{1}")
        #expect(first.connection.isOpen && !first.connection.isInTransaction)
    }

    /// A takeover that starts while the leader's transaction is between its fence and its
    /// COMMIT waits for that COMMIT: the leader's work lands before the new epoch, never after.
    @Test func aTakeoverWaitsForTheFencedTransactionInFlight() throws {
        let database = try TestPostgres.freshDatabase()
        let first = try FarmStore(conninfo: database, logger: testLogger)
        try first.migrate()
        #expect(try first.tryLease(a, seconds: 30) == .acquired(epoch: 1))
        try expire(first)
        try first.connection.execute("BEGIN")
        try FarmStore.fence(first.connection, instance: "aaaa", epoch: 1)
        // The takeover's UPDATE waits on the row lock the fence holds.
        let answer = try standbyTryBlockedUntil(database) { try first.connection.execute("COMMIT") }
        #expect(answer == .acquired(epoch: 2))
    }

    /// Two coordinators starting at once on a database with no lease row: the second's try
    /// waits for the first's insert and then says who holds it (its own snapshot predates
    /// the row, which once made it find nothing at all and exit).
    @Test func twoFirstTriesAtOnceGiveOneLeaderAndOneStandby() throws {
        let database = try TestPostgres.freshDatabase()
        let first = try FarmStore(conninfo: database, logger: testLogger)
        try first.migrate()
        try first.connection.execute("BEGIN")
        #expect(try first.tryLease(a, seconds: 30) == .acquired(epoch: 1))
        let answer = try standbyTryBlockedUntil(database) { try first.connection.execute("COMMIT") }
        #expect(answer == .heldByOther(endpoint: "tcp://a:5555", epoch: 1))
    }
}
