import CZeroMQ
import Foundation
import KeyfarmPostgres
import KeyfarmTestSupport
import KeyfarmWire
import Logging
import Testing

/// Real coordinator and worker processes, real ZeroMQ over loopback, real PostgreSQL, real
/// SIGKILL. Serialized: each test runs a farm of processes on this two-core machine.
@Suite(.serialized) struct FaultTests {
    @Test func smokeJobsFlowThroughRealProcessesWithRetries() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.startCoordinator()
            try farm.startWorker("w1", slots: 4)
            try farm.startWorker("w2", slots: 4)
            try farm.smoke("flow", jobs: 40, ms: 20, failRate: 0.3, maxAttempts: 10)
            // Up to ten attempts each with back-off between them: generous, for a loaded machine.
            let done = try eventually(timeout: .seconds(240)) { try farm.succeeded("flow") == 40 }
            #expect(done, "\(farm.logs)")
            #expect(try farm.jobsNotSucceededExactlyOnce("flow") == 0)
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE outcome = 'failed' AND error_class = 'transient'") > 0)
            #expect(try farm.count("SELECT count(DISTINCT worker) AS n FROM keyfarm.v_attempts WHERE outcome = 'succeeded'") == 2)
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE outcome IS NULL") == 0)
        }
    }

    @Test func aKilledWorkersJobsFinishElsewhereAndShowAsLost() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.startCoordinator()
            let doomed = try farm.startWorker("doomed", slots: 4)
            try farm.smoke("kill-worker", jobs: 8, ms: 2000)
            let busy = try eventually { try farm.running(on: "doomed") >= 2 }
            #expect(busy, "\(farm.logs)")
            doomed.killHard()
            try farm.startWorker("survivor", slots: 4)
            let done = try eventually(timeout: .seconds(60)) { try farm.succeeded("kill-worker") == 8 }
            #expect(done, "\(farm.logs)")
            #expect(try farm.jobsNotSucceededExactlyOnce("kill-worker") == 0)
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE worker = 'doomed' AND outcome = 'lost'") >= 2)
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_workers WHERE name = 'doomed' AND state = 'lost'") == 1)
        }
    }

    /// Jobs queued in the moment after a worker died, before its heartbeats are missed, reach
    /// it not at all: the first unreachable ASSIGN takes it off the roster, so the jobs are not
    /// claimed for it again and again (each time lost) until it is declared dead.
    @Test func aWorkerWhoseConnectionIsGoneIsNotGivenJobsAgainAndAgain() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.startCoordinator(["--liveness", "50"])  // 10 s before it would be missed
            let doomed = try farm.startWorker("doomed", slots: 4)
            try farm.smoke("warm-up", jobs: 1, ms: 10)
            let joined = try eventually { try farm.succeeded("warm-up") == 1 }
            #expect(joined, "\(farm.logs)")
            doomed.killHard()
            try farm.smoke("after-kill", jobs: 12, ms: 10)
            // The coordinator has claimed for the dead worker (its only one) once an attempt exists.
            let tried = try eventually {
                try farm.count("SELECT count(*)::int AS n FROM keyfarm.v_attempts WHERE shot_list = 'after-kill'") >= 1
            }
            #expect(tried, "\(farm.logs)")
            try farm.startWorker("survivor", slots: 4)
            let done = try eventually(timeout: .seconds(60)) { try farm.succeeded("after-kill") == 12 }
            #expect(done, "\(farm.logs)")
            // At most one ASSIGN each went to the dead connection (those of the first turn).
            #expect(try farm.count("""
                SELECT count(*) AS n FROM keyfarm.v_attempts WHERE shot_list = 'after-kill' AND outcome = 'lost'
                """) <= 4, "\(farm.logs)")
            #expect(farm.coordinator?.log.contains("worker unreachable: no more jobs for it") == true, "\(farm.logs)")
        }
    }

    /// A coordinator that answers a HELLO late (just starting, or busy with a large turn) keeps
    /// the worker's connection: the worker waits at least 10 s for WELCOME, not its 0.6 s of
    /// heartbeats, so what is sent to that connection meanwhile is not lost to a reconnect.
    @Test func aWorkerWaitsForALateWelcomeOnTheConnectionItSaidHelloOn() async throws {
        try await offPool {
            let farm = try Farm()
            // A stand-in coordinator that hears the HELLO and says nothing for 3 s.
            let coordinator = try StandInCoordinator(farm)
            try farm.startWorker("late", slots: 1)
            let helloArrived = try coordinator.listen { !coordinator.heard.isEmpty }
            try #require(helloArrived, "\(farm.logs)")
            try coordinator.listen(for: .seconds(3))
            let identities = Set(coordinator.heard.map(\.identity))
            #expect(identities.count == 1, "the worker reconnected instead of waiting: \(farm.logs)")
            #expect(coordinator.heard.allSatisfy { if case .hello = $0.message { true } else { false } })
            #expect(coordinator.heard.count == 1, "\(coordinator.heard.map(\.message.command))")

            // The late WELCOME is taken on that same connection, and heartbeats follow on it.
            let hello = coordinator.heard[0].identity
            try coordinator.welcome(hello)
            coordinator.forget()
            let heartbeat = try coordinator.listen(timeout: .seconds(10)) { coordinator.heardHeartbeat }
            #expect(heartbeat, "\(farm.logs)")
            #expect(Set(coordinator.heard.map(\.identity)) == [hello], "\(farm.logs)")
            #expect(!(farm.workers["late"]?.log.contains("connection to the coordinator lost") ?? true))
        }
    }

    @Test func aKilledCoordinatorRestartsAndEveryJobCompletesExactlyOnce() async throws {
        try await offPool {
            let farm = try Farm()
            let first = try farm.startCoordinator()
            try farm.startWorker("w1", slots: 4)
            try farm.startWorker("w2", slots: 4)
            try farm.smoke("kill-coordinator", jobs: 60, ms: 150)
            let started = try eventually { try farm.succeeded("kill-coordinator") >= 10 }
            #expect(started, "\(farm.logs)")
            first.killHard()
            try farm.startCoordinator()
            let done = try eventually(timeout: .seconds(90)) { try farm.succeeded("kill-coordinator") == 60 }
            #expect(done, "\(farm.logs)")
            #expect(try farm.jobsNotSucceededExactlyOnce("kill-coordinator") == 0)
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE outcome IS NULL") == 0)
        }
    }

    /// PostgreSQL stopped abruptly (as in a crash) and started again under a running farm: the
    /// coordinator does not exit; it reconnects, takes its workers back, and every job
    /// completes exactly once.
    @Test func theCoordinatorRidesOutAPostgreSQLRestartWithoutExiting() async throws {
        try await offPool {
            // A cluster of the test's own: the shared test server must stay up for the others.
            let root = FileManager.default.temporaryDirectory.appending(path: "kf-pg-loss-\(UUID().uuidString.prefix(8))").path
            // Durable, as a farm's server is: what was committed before the crash is still there after.
            let cluster = EmbeddedCluster(dataDirectory: root + "/data", logger: Logger(label: "keyfarm.pg-loss"))
            let farm = try Farm(database: try cluster.ensureRunning())
            defer { try? cluster.stop(immediately: true); try? FileManager.default.removeItem(atPath: root) }
            let coordinator = try farm.startCoordinator()
            try farm.startWorker("pg-w1", slots: 2)
            try farm.smoke("before", jobs: 6, ms: 10)
            let before = try eventually { try farm.succeeded("before") == 6 }
            #expect(before, "\(farm.logs)")

            // Jobs running on the worker when the database goes.
            try farm.smoke("across", jobs: 4, ms: 1500)
            let busy = try eventually { try farm.running(on: "pg-w1") >= 1 }
            #expect(busy, "\(farm.logs)")
            try cluster.stop(immediately: true)
            // Started again only once the coordinator has noticed it gone.
            let noticed = eventually(timeout: .seconds(30)) { coordinator.log.contains("lost the database") }
            #expect(noticed, "\(coordinator.log)")
            _ = try cluster.ensureRunning()
            try farm.store.connection.reconnect()

            let across = try eventually(timeout: .seconds(60)) { try farm.succeeded("across") == 4 }
            #expect(across, "\(farm.logs)")
            try farm.smoke("after", jobs: 6, ms: 10)
            let after = try eventually(timeout: .seconds(60)) { try farm.succeeded("after") == 6 }
            #expect(after, "\(farm.logs)")
            #expect(coordinator.isRunning, "\(coordinator.log)")
            #expect(coordinator.log.contains("lost the database"), "\(coordinator.log)")
            #expect(coordinator.log.contains("reconnected to the database"), "\(coordinator.log)")
            for list in ["before", "across", "after"] {
                #expect(try farm.jobsNotSucceededExactlyOnce(list) == 0, "\(list)")
            }
        }
    }

    @Test func garbageOnTheCoordinatorsPortIsLoggedDroppedAndServiceGoesOn() async throws {
        try await offPool {
            let farm = try Farm()
            let coordinator = try farm.startCoordinator()
            try farm.startWorker("w1", slots: 2)
            let joined = try eventually { try farm.count("SELECT count(*)::int AS n FROM keyfarm.v_workers WHERE state = 'ready'") == 1 }
            #expect(joined, "\(farm.logs)")
            // Raw bytes that are not ZMTP at all.
            let port = Int(farm.endpoint.split(separator: ":").last!)!
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            // The coordinator may still be starting on a busy machine: try for a while.
            var fd: Int32 = -1
            let connected = eventually(timeout: .seconds(20)) {
                fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                let result = withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                if result != 0 { close(fd) }
                return result == 0
            }
            #expect(connected)
            var garbage = (0..<4096).map { _ in UInt8.random(in: 0...255) }
            // MSG_NOSIGNAL: a peer that hung up must not kill the test runner with SIGPIPE.
            if connected { _ = send(fd, &garbage, garbage.count, Int32(MSG_NOSIGNAL)) }
            close(fd)
            // Well-formed ZeroMQ, malformed Keyfarm messages.
            let rogue = try ZMQSocket(type: .dealer)
            try rogue.setLinger(milliseconds: 0)
            try rogue.setIdentity(Array("rogue".utf8))
            try rogue.connect(farm.endpoint)
            try rogue.send([Array("NOPE".utf8), Array("HELLO".utf8), []])
            try rogue.send([WireProtocol.signature, Array("FROBNICATE".utf8), []])
            try rogue.send([WireProtocol.signature, Array("RESULT".utf8), [0xFF, 0xFF, 0xFF]])
            try rogue.send([[0x4B, 0x46, 0x50, 0x09], Array("HELLO".utf8), []])
            try rogue.send([WireProtocol.signature])
            let dropped = eventually(timeout: .seconds(10)) {
                coordinator.log.components(separatedBy: "dropped a malformed message").count - 1 >= 5
            }
            #expect(dropped, "\(coordinator.log)")
            rogue.close()
            try farm.smoke("after-garbage", jobs: 10, ms: 10)
            let done = try eventually { try farm.succeeded("after-garbage") == 10 }
            #expect(done, "\(farm.logs)")
            #expect(coordinator.isRunning)
        }
    }

    /// A HELLO the database refuses (here a trigger standing in for bad data or a missing
    /// privilege) turns that one worker away; the coordinator keeps serving the others.
    @Test func aHelloTheDatabaseRefusesTurnsThatWorkerAwayAndServiceGoesOn() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.store.connection.executeScript("""
                CREATE FUNCTION keyfarm.refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.name = 'doomed' THEN
                        RAISE EXCEPTION 'worker name % refused by the test', NEW.name USING ERRCODE = '22023';
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER refuse_doomed BEFORE INSERT OR UPDATE ON keyfarm.workers
                    FOR EACH ROW EXECUTE FUNCTION keyfarm.refuse_doomed();
                """)
            let coordinator = try farm.startCoordinator()
            try farm.startWorker("doomed", slots: 2)
            let refused = eventually(timeout: .seconds(20)) {
                coordinator.log.contains("the database did not accept its registration")
            }
            #expect(refused, "\(farm.logs)")
            #expect(coordinator.isRunning, "\(coordinator.log)")
            try farm.startWorker("w1", slots: 2)
            try farm.smoke("after-refusal", jobs: 10, ms: 10)
            let done = try eventually { try farm.succeeded("after-refusal") == 10 }
            #expect(done, "\(farm.logs)")
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_jobs WHERE worker = 'doomed'") == 0)
            #expect(coordinator.isRunning)
        }
    }

    @Test func sigtermDrainsAWorkerWhichFinishesItsJobsAndExitsZero() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.startCoordinator()
            let worker = try farm.startWorker("drainer", slots: 2)
            try farm.smoke("drain", jobs: 2, ms: 1500)
            let busy = try eventually { try farm.running(on: "drainer") == 2 }
            #expect(busy, "\(farm.logs)")
            worker.signal(SIGTERM)
            let status = worker.wait(timeout: .seconds(20))
            #expect(status == 0, "\(worker.log)")
            #expect(try farm.succeeded("drain") == 2)
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE outcome = 'lost'") == 0)
            let offline = try eventually(timeout: .seconds(10)) {
                try farm.count("SELECT count(*) AS n FROM keyfarm.v_workers WHERE name = 'drainer' AND state = 'offline'") == 1
            }
            #expect(offline, "\(farm.logs)")
        }
    }

    @Test func anOperatorDrainSendsWorkElsewhere() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.startCoordinator()
            try farm.startWorker("kept", slots: 2)
            try farm.startWorker("drained", slots: 2)
            let joined = try eventually { try farm.count("SELECT count(*) AS n FROM keyfarm.v_workers WHERE state = 'ready'") == 2 }
            #expect(joined, "\(farm.logs)")
            #expect(try farm.store.setDraining(workerName: "drained", true))
            // The coordinator applied the drain once the worker was told.
            let told = eventually { farm.workers["drained"]?.log.contains("drained by the coordinator") == true }
            #expect(told, "\(farm.logs)")
            try farm.smoke("elsewhere", jobs: 10, ms: 10)
            let done = try eventually { try farm.succeeded("elsewhere") == 10 }
            #expect(done, "\(farm.logs)")
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE worker = 'drained'") == 0)
        }
    }
}
