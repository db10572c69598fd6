import Foundation
import KeyfarmPostgres
import KeyfarmTestSupport
import Logging
import Testing

/// A leader and a standby coordinator on one database, real processes killed or paused for
/// real: the standby takes over and dispatches within seconds, every job completes once, and a
/// deposed leader that wakes up commits nothing.
@Suite(.serialized) struct HighAvailabilityTests {
    /// The farm's coordinator (the first to lead) and a standby on another port, both with `extra`.
    func leaderAndStandby(_ farm: Farm, _ extra: [String] = []) throws -> (leader: TestDaemon, standby: TestDaemon,
                                                                         standbyEndpoint: String) {
        let leader = try farm.startCoordinator(extra)
        let leading = eventually { leader.log.contains("coordinator leading") }
        #expect(leading, "\(farm.logs)")
        let standbyEndpoint = "tcp://127.0.0.1:\(freeLoopbackPort())"
        let standby = try TestDaemon(farm.binary, ["coordinator", "--bind", standbyEndpoint, "--heartbeat-ms",
                                                   "\(Farm.heartbeatMilliseconds)", "--liveness", "\(Farm.liveness)"] + extra,
                                     environment: farm.environment)
        let standing = eventually { standby.log.contains("standing by") }
        #expect(standing, "\(standby.log)")
        return (leader, standby, standbyEndpoint)
    }

    /// The database's clock, in seconds since 1970.
    func databaseNow(_ farm: Farm) throws -> Double {
        try farm.store.connection.execute("SELECT extract(epoch FROM clock_timestamp())::float8 AS t").rows[0].decode("t")
    }

    func seconds(_ farm: Farm, _ sql: String, _ parameters: [any PostgresBindable]) throws -> Double? {
        try farm.store.connection.execute(sql, parameters).rows.first?.decode("s", as: Double?.self)
    }

    @Test func aStandbyTakesOverFromAKilledLeaderAndDispatchesWithinFiveSeconds() async throws {
        try await offPool {
            let farm = try Farm()
            let (leader, standby, standbyEndpoint) = try leaderAndStandby(farm)
            defer { standby.killHard() }
            // One worker lists the standby first, so it starts by following the hint to the leader.
            let w1 = try farm.startWorker("w1", slots: 2, connect: "\(standbyEndpoint),\(farm.endpoint)")
            try farm.startWorker("w2", slots: 2, connect: "\(farm.endpoint),\(standbyEndpoint)")
            try farm.smoke("ha", jobs: 40, ms: 400)
            let busy = try eventually { try farm.succeeded("ha") >= 6 && farm.running(on: "w1") + farm.running(on: "w2") >= 2 }
            #expect(busy, "\(farm.logs)")
            #expect(w1.log.contains("the coordinator stands by"), "\(w1.log)")
            let killedAt = try databaseNow(farm)
            leader.killHard()
            let done = try eventually(timeout: .seconds(120)) { try farm.succeeded("ha") == 40 }
            #expect(done, "\(farm.logs)\n--- standby\n\(standby.log.suffix(3000))")
            #expect(try farm.jobsNotSucceededExactlyOnce("ha") == 0)
            let takeover = try seconds(farm, """
                SELECT extract(epoch FROM since)::float8 - $1 AS s FROM keyfarm.v_coordinators WHERE role = 'leader' AND endpoint = $2
                """, [killedAt, standbyEndpoint])
            let dispatch = try seconds(farm, """
                SELECT extract(epoch FROM min(started_at))::float8 - $1 AS s FROM keyfarm.attempts WHERE started_at > to_timestamp($1)
                """, [killedAt])
            print("takeover: lease taken \(takeover.map { String(format: "%.2f", $0) } ?? "never") s, "
                  + "dispatching again \(dispatch.map { String(format: "%.2f", $0) } ?? "never") s after the leader's SIGKILL")
            #expect(try #require(takeover) < 4)
            #expect(try #require(dispatch) < 5)
            #expect(try farm.count("SELECT count(*)::int AS n FROM keyfarm.v_coordinators WHERE role = 'leader' AND epoch = 2") == 1)
            #expect(try farm.count("SELECT count(*)::int AS n FROM keyfarm.workers WHERE state = 'lost'") == 0)
        }
    }

    @Test func aDeposedLeaderThatWakesUpCommitsNothingAndStandsBy() async throws {
        try await offPool {
            let farm = try Farm()
            let (leader, standby, standbyEndpoint) = try leaderAndStandby(farm)
            defer { standby.killHard() }
            try farm.startWorker("w1", slots: 2, connect: "\(farm.endpoint),\(standbyEndpoint)")
            try farm.startWorker("w2", slots: 2, connect: "\(farm.endpoint),\(standbyEndpoint)")
            try farm.smoke("paused", jobs: 30, ms: 500)
            let busy = try eventually { try farm.running(on: "w1") + farm.running(on: "w2") >= 2 }
            #expect(busy, "\(farm.logs)")
            leader.signal(SIGSTOP)
            // The standby takes the lease, and both workers find it.
            let tookOver = eventually(timeout: .seconds(30)) {
                standby.log.components(separatedBy: "worker joined").count - 1 >= 2
            }
            #expect(tookOver, "\(standby.log)")
            leader.signal(SIGCONT)
            // It steps down on its first look at the lease clock; or, paused inside a transaction,
            // finds its session ended by the server (idle in transaction for 3 s), which released
            // its locks to the new leader, and rides that out as a lost database.
            let steppedDown = eventually { leader.log.contains("stepping down") || leader.log.contains("lost the database") }
            #expect(steppedDown, "\(leader.log)")
            let done = try eventually(timeout: .seconds(120)) { try farm.succeeded("paused") == 30 }
            #expect(done, "\(farm.logs)\n--- standby\n\(standby.log.suffix(3000))")
            #expect(try farm.jobsNotSucceededExactlyOnce("paused") == 0)
            // Woken, the old leader believed both workers silent for seconds: had it acted, it
            // would have declared them lost and lost their attempts.
            #expect(!leader.log.contains("stopped answering"), "\(leader.log)")
            #expect(try farm.count("SELECT count(*)::int AS n FROM keyfarm.attempts WHERE error LIKE '%stopped answering%'") == 0)
            #expect(try farm.count("SELECT count(*)::int AS n FROM keyfarm.workers WHERE state = 'lost'") == 0)
            // It stands by behind the new leader.
            let standing = eventually { leader.log.contains("standing by") }
            #expect(standing, "\(leader.log)")
            #expect(try farm.count("""
                SELECT count(*)::int AS n FROM keyfarm.v_coordinators WHERE role = 'leader' AND epoch = 2 AND endpoint = $1
                """, [standbyEndpoint]) == 1)
        }
    }

    /// A primary with a synchronous streaming replica; the primary stops abruptly, the replica
    /// is promoted, and the coordinator, given both hosts with target_session_attrs=read-write,
    /// follows it: every job, before, across and after the failover, completes exactly once.
    @Test func theCoordinatorFollowsAPromotedReplica() async throws {
        try await offPool {
            let pair = try ReplicatedPostgres()
            let farm = try Farm(database: pair.conninfo)
            let coordinator = try farm.startCoordinator()
            try farm.startWorker("pg-w1", slots: 2)
            try farm.smoke("before", jobs: 6, ms: 10)
            let before = try eventually { try farm.succeeded("before") == 6 }
            #expect(before, "\(farm.logs)")

            try farm.smoke("across", jobs: 6, ms: 1500)
            let busy = try eventually { try farm.running(on: "pg-w1") >= 1 }
            #expect(busy, "\(farm.logs)")
            try pair.primary.stop(immediately: true)
            let noticed = eventually(timeout: .seconds(30)) { coordinator.log.contains("lost the database") }
            #expect(noticed, "\(coordinator.log)")
            try pair.promoteReplica()
            let reconnected = eventually(timeout: .seconds(30)) { (try? farm.store.connection.reconnect()) != nil }
            #expect(reconnected)
            #expect(try farm.store.connection.execute("SELECT pg_is_in_recovery()::text AS r").rows[0]["r"] == "false")
            #expect(try farm.store.connection.execute("SELECT current_setting('data_directory') AS d").rows[0]["d"]
                    == pair.replica.dataDirectory)

            let across = try eventually(timeout: .seconds(90)) { try farm.succeeded("across") == 6 }
            #expect(across, "\(farm.logs)")
            try farm.smoke("after", jobs: 6, ms: 10)
            let after = try eventually(timeout: .seconds(60)) { try farm.succeeded("after") == 6 }
            #expect(after, "\(farm.logs)")
            #expect(coordinator.isRunning, "\(coordinator.log)")
            #expect(coordinator.log.contains("reconnected to the database"), "\(coordinator.log)")
            for list in ["before", "across", "after"] {
                #expect(try farm.jobsNotSucceededExactlyOnce(list) == 0, "\(list)")
            }
        }
    }

    /// With CURVE, a standby answers handshakes by the same allow-list, reloaded when it
    /// changes: a worker allowed after both coordinators started hears the standby's hint
    /// (through an encrypted connection) and follows it to the leader.
    @Test func aStandbyWithCurveAdmitsWorkersAllowedLaterAndPointsThemToTheLeader() async throws {
        try await offPool {
            let farm = try Farm()
            let keys = try CurveTests.keyDirectory()
            defer { try? FileManager.default.removeItem(atPath: keys) }
            for name in ["coordinator", "good"] { CurveTests.keyfarm(farm, "keys", "generate", name, "--directory", keys) }
            let (_, standby, standbyEndpoint) = try leaderAndStandby(farm, ["--curve-secret-key", "\(keys)/coordinator.key"])
            defer { standby.killHard() }
            CurveTests.keyfarm(farm, "keys", "add", "\(keys)/good.pub")
            let worker = try farm.startWorker("good", slots: 2, ["--curve-secret-key", "\(keys)/good.key",
                                                                 "--coordinator-public-key", "\(keys)/coordinator.pub"],
                                              connect: "\(standbyEndpoint),\(farm.endpoint)")
            try farm.smoke("curve-ha", jobs: 4, ms: 20)
            let done = try eventually(timeout: .seconds(60)) { try farm.succeeded("curve-ha") == 4 }
            #expect(done, "\(farm.logs)\n--- standby\n\(standby.log)")
            #expect(worker.log.contains("the coordinator stands by"), "\(worker.log)")
            #expect(!standby.log.contains("refused a worker whose key is not allowed"), "\(standby.log)")
        }
    }

    /// SIGTERM on the leader: it tells its workers it stands by, gives the lease up at once and
    /// exits 0; the standby leads within about half a second and the workers find it.
    @Test func aLeaderThatStopsCleanlyHandsOverAtOnce() async throws {
        try await offPool {
            let farm = try Farm()
            let (leader, standby, standbyEndpoint) = try leaderAndStandby(farm)
            defer { standby.killHard() }
            let worker = try farm.startWorker("w1", slots: 2, connect: "\(farm.endpoint),\(standbyEndpoint)")
            try farm.smoke("handover", jobs: 20, ms: 300)
            let busy = try eventually { try farm.running(on: "w1") >= 1 }
            #expect(busy, "\(farm.logs)")
            let stoppedAt = try databaseNow(farm)
            leader.signal(SIGTERM)
            #expect(leader.wait(timeout: .seconds(30)) == 0, "\(leader.log)")
            let done = try eventually(timeout: .seconds(120)) { try farm.succeeded("handover") == 20 }
            #expect(done, "\(farm.logs)\n--- standby\n\(standby.log.suffix(3000))")
            #expect(try farm.jobsNotSucceededExactlyOnce("handover") == 0)
            let takeover = try seconds(farm, """
                SELECT extract(epoch FROM since)::float8 - $1 AS s FROM keyfarm.v_coordinators WHERE role = 'leader' AND endpoint = $2
                """, [stoppedAt, standbyEndpoint])
            print("clean handover: the standby leads \(takeover.map { String(format: "%.2f", $0) } ?? "never") s after SIGTERM")
            #expect(try #require(takeover) < 1.5)
            #expect(worker.log.contains("the coordinator stands by"), "\(worker.log)")
            #expect(try farm.count("SELECT count(*)::int AS n FROM keyfarm.v_coordinators WHERE role = 'stopped'") == 1)
        }
    }

    /// PostgreSQL stopped abruptly and started again under a leader and a standby: neither
    /// exits; both reconnect, one leads (at a later epoch) and the work completes once.
    @Test func aLeaderAndAStandbyBothRideOutAPostgreSQLRestart() async throws {
        try await offPool {
            let root = FileManager.default.temporaryDirectory.appending(path: "kf-ha-pg-\(UUID().uuidString.prefix(8))").path
            let cluster = EmbeddedCluster(dataDirectory: root + "/data", logger: Logger(label: "keyfarm.ha-pg"))
            let farm = try Farm(database: try cluster.ensureRunning())
            defer { try? cluster.stop(immediately: true); try? FileManager.default.removeItem(atPath: root) }
            let (leader, standby, standbyEndpoint) = try leaderAndStandby(farm)
            defer { standby.killHard() }
            try farm.startWorker("w1", slots: 2, connect: "\(farm.endpoint),\(standbyEndpoint)")
            try farm.smoke("across", jobs: 8, ms: 500)
            let busy = try eventually { try farm.running(on: "w1") >= 1 }
            #expect(busy, "\(farm.logs)")
            try cluster.stop(immediately: true)
            let noticed = eventually(timeout: .seconds(30)) {
                leader.log.contains("lost the database") && standby.log.contains("lost the database")
            }
            #expect(noticed, "\(leader.log)\n--- standby\n\(standby.log)")
            _ = try cluster.ensureRunning()
            try farm.store.connection.reconnect()
            let done = try eventually(timeout: .seconds(90)) { try farm.succeeded("across") == 8 }
            #expect(done, "\(farm.logs)\n--- standby\n\(standby.log.suffix(3000))")
            #expect(try farm.jobsNotSucceededExactlyOnce("across") == 0)
            #expect(leader.isRunning && standby.isRunning, "\(leader.log)\n--- standby\n\(standby.log)")
            #expect(try farm.count("SELECT count(*)::int AS n FROM keyfarm.v_coordinators WHERE role = 'leader' AND epoch >= 2") == 1)
        }
    }
}
