import Foundation
import KeyfarmCommands
import KeyfarmCoordinator
import KeyfarmDecisions
import KeyfarmTestSupport
import KeyfarmWire
import Testing

/// A coordinator with CURVE on, real worker processes with allowed, unknown and no keys, and
/// `keyfarm keys` changing the allow-list under a running coordinator.
@Suite(.serialized) struct CurveTests {
    /// Runs `keyfarm` in-process against the farm's database; fails the test on a non-zero exit.
    @discardableResult
    static func keyfarm(_ farm: Farm, _ arguments: String...) -> String {
        let captured = CapturedConsole()
        let status = KeyfarmCLI.run(arguments, console: captured.console, environment: farm.environment)
        #expect(status == 0, "keyfarm \(arguments.joined(separator: " ")): \(captured.error)")
        return captured.out
    }

    /// A new directory for a test's key files; the test removes it.
    static func keyDirectory() throws -> String {
        let keys = FileManager.default.temporaryDirectory.appending(path: "kf-curve-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        return keys
    }

    static func occurrences(of text: String, in log: String) -> Int {
        log.components(separatedBy: text).count - 1
    }

    @Test func onlyAllowedWorkersGetJobsAndRefusalsAreLoggedOnce() async throws {
        try await offPool {
            let farm = try Farm()
            let keys = try Self.keyDirectory()
            defer { try? FileManager.default.removeItem(atPath: keys) }
            for name in ["coordinator", "good", "stranger", "late"] {
                Self.keyfarm(farm, "keys", "generate", name, "--directory", keys)
            }
            func key(_ name: String) throws -> String { try CurveKeyFile.readPublic("\(keys)/\(name).pub").z85 }
            func curve(_ name: String) -> [String] {
                ["--curve-secret-key", "\(keys)/\(name).key", "--coordinator-public-key", "\(keys)/coordinator.pub"]
            }
            Self.keyfarm(farm, "keys", "add", "\(keys)/good.pub", "--comment", "the test's allowed worker")

            let coordinator = try farm.startCoordinator(["--curve-secret-key", "\(keys)/coordinator.key"])
            try farm.startWorker("stranger", slots: 2, curve("stranger"))
            try farm.startWorker("plain", slots: 2)
            try farm.smoke("curve", jobs: 6, ms: 20)
            let refusedKey = "refused a worker whose key is not allowed"
            let refusedHandshake = "refused a connection that failed the CURVE handshake"
            let bothRefused = eventually(timeout: .seconds(30)) {
                coordinator.log.contains(refusedKey) && coordinator.log.contains(refusedHandshake)
            }
            #expect(bothRefused, "\(farm.logs)")
            // Both keep retrying their handshakes, refused each time and logged once (the counts
            // are checked below, after the good worker's jobs gave them time to retry).
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts") == 0, "\(farm.logs)")
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_workers") == 0)
            // The refused worker hears it in the handshake and says so, once, naming its key
            // (counted below, after the good worker's jobs gave it time to be refused again).
            let strangerRefusal = "the coordinator refused this worker's key \(try key("stranger"))"
            let strangerHeard = eventually(timeout: .seconds(30)) {
                farm.workers["stranger"]?.log.contains(strangerRefusal) == true
            }
            #expect(strangerHeard, "\(farm.logs)")

            try farm.startWorker("good", slots: 4, curve("good"))
            let done = try eventually(timeout: .seconds(60)) { try farm.succeeded("curve") == 6 }
            #expect(done, "\(farm.logs)")
            let strangerLog = farm.workers["stranger"]?.log ?? ""
            #expect(Self.occurrences(of: strangerRefusal, in: strangerLog) == 1, "\(strangerLog)")
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE worker <> 'good'") == 0)
            let log = coordinator.log
            #expect(Self.occurrences(of: refusedKey, in: log) == 1, "\(log)")
            #expect(log.contains(try key("stranger")))
            #expect(Self.occurrences(of: refusedHandshake, in: log) == 1, "\(log)")
            #expect(log.contains("does not speak CURVE"))
            #expect(!log.contains("secret-key"))

            // A key added now admits a new worker, without restarting the coordinator.
            farm.workers["good"]?.signal(SIGTERM)
            #expect(farm.workers["good"]?.wait(timeout: .seconds(30)) == 0)
            Self.keyfarm(farm, "keys", "add", "\(keys)/late.pub")
            try farm.startWorker("late", slots: 2, curve("late"))
            try farm.smoke("curve-late", jobs: 4, ms: 20)
            let lateDone = try eventually(timeout: .seconds(60)) { try farm.succeeded("curve-late") == 4 }
            #expect(lateDone, "\(farm.logs)")
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE worker = 'late' AND outcome = 'succeeded'") == 4)

            // A removed key is refused from its next connection.
            #expect(Self.keyfarm(farm, "keys", "remove", "good").contains("removed worker key good"))
            farm.workers["late"]?.signal(SIGTERM)
            #expect(farm.workers["late"]?.wait(timeout: .seconds(30)) == 0)
            try farm.startWorker("good", slots: 2, curve("good"))
            try farm.smoke("curve-removed", jobs: 2, ms: 20)
            let goodKey = try key("good")
            let goodRefused = eventually(timeout: .seconds(30)) { coordinator.log.contains(goodKey) }
            #expect(goodRefused, "\(farm.logs)")

            // An allowed key with the wrong coordinator public key fails the handshake itself.
            try farm.startWorker("confused", slots: 2, ["--curve-secret-key", "\(keys)/late.key",
                                                        "--coordinator-public-key", "\(keys)/stranger.pub"])
            let confusedRefused = eventually(timeout: .seconds(30)) {
                Self.occurrences(of: refusedHandshake, in: coordinator.log) == 2
            }
            #expect(confusedRefused, "\(coordinator.log)")
            // Both refused workers say what to check once they have waited for a WELCOME (at
            // least 10 s, retrying their handshakes all along): the signal that the refusals
            // held for that long, each logged once.
            let hinted = eventually(timeout: .seconds(40)) {
                farm.workers["good"]?.log.contains("check that this worker's public key \(goodKey) is allowed") == true
                    && farm.workers["confused"]?.log.contains("no WELCOME") == true
            }
            #expect(hinted, "\(farm.logs)")
            #expect(try farm.succeeded("curve-removed") == 0)
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_jobs WHERE shot_list = 'curve-removed' AND state = 'queued'") == 2)
            #expect(Self.occurrences(of: refusedKey, in: coordinator.log) == 2, "\(coordinator.log)")
            #expect(Self.occurrences(of: refusedHandshake, in: coordinator.log) == 2, "\(coordinator.log)")
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE worker = 'confused'") == 0)
            #expect(coordinator.log.contains("did not decrypt (it may hold a wrong or old coordinator public key)"))
            #expect(try farm.succeeded("curve-removed") == 0)
            #expect(coordinator.isRunning)
        }
    }

    /// Removing a connected worker's key cuts it off at once: its running attempts are stopped
    /// and go to another worker, it gets no job again, and both sides say why.
    @Test func removingAConnectedWorkersKeyCutsItOffAndItsJobsGoElsewhere() async throws {
        try await offPool {
            let farm = try Farm()
            let keys = try Self.keyDirectory()
            defer { try? FileManager.default.removeItem(atPath: keys) }
            for name in ["coordinator", "revoked", "trusted"] {
                Self.keyfarm(farm, "keys", "generate", name, "--directory", keys)
            }
            Self.keyfarm(farm, "keys", "add", "\(keys)/revoked.pub")
            Self.keyfarm(farm, "keys", "add", "\(keys)/trusted.pub")
            func curve(_ name: String) -> [String] {
                ["--curve-secret-key", "\(keys)/\(name).key", "--coordinator-public-key", "\(keys)/coordinator.pub"]
            }
            let coordinator = try farm.startCoordinator(["--curve-secret-key", "\(keys)/coordinator.key"])
            let revoked = try farm.startWorker("revoked", slots: 2, curve("revoked"))
            // Long jobs, so that both are running on the worker when its key goes.
            try farm.smoke("cut", jobs: 2, ms: 4000)
            let busy = try eventually(timeout: .seconds(60)) { try farm.running(on: "revoked") == 2 }
            try #require(busy, "\(farm.logs)")

            #expect(Self.keyfarm(farm, "keys", "remove", "revoked").contains("removed worker key revoked"))
            let cut = eventually(timeout: .seconds(30)) { coordinator.log.contains("cut off a worker whose key was removed") }
            #expect(cut, "\(farm.logs)")
            let lost = try eventually(timeout: .seconds(30)) {
                try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE worker = 'revoked' AND outcome = 'lost'") == 2
            }
            #expect(lost, "\(farm.logs)")
            let told = eventually(timeout: .seconds(30)) {
                revoked.log.contains("the coordinator removed this worker's key")
                    && revoked.log.contains("the coordinator refused this worker's key")
            }
            #expect(told, "the worker hears of the removal, then of the refusal on its next connection: \(revoked.log)")

            try farm.startWorker("trusted", slots: 2, curve("trusted"))
            let done = try eventually(timeout: .seconds(60)) { try farm.succeeded("cut") == 2 }
            #expect(done, "\(farm.logs)")
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE outcome = 'succeeded' AND worker = 'trusted'") == 2)
            // Still running, still trying, never given a job again.
            #expect(revoked.isRunning)
            try farm.smoke("after-cut", jobs: 4, ms: 10)
            let after = try eventually(timeout: .seconds(60)) { try farm.succeeded("after-cut") == 4 }
            #expect(after, "\(farm.logs)")
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE worker = 'revoked'") == 2)
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.v_workers WHERE name = 'revoked' AND state = 'offline'") == 1)
            #expect(coordinator.isRunning)
        }
    }
}

/// The gate's decisions, with time as an input.
@Suite struct WorkerKeyGateTests {
    @Test func admitsAllowedKeysAndLogsEachUnknownKeyOnce() {
        var gate = WorkerKeyGate()
        gate.replaceAllowed([("render-07", "A"), ("render-08", "B")])
        #expect(gate.decide(publicKey: "A") == .admit(name: "render-07"))
        #expect(gate.decide(publicKey: "X") == .refuse(log: .firstForKey))
        #expect(gate.decide(publicKey: "X") == .refuse(log: nil))
        // Allowed, then removed again: logged again.
        gate.replaceAllowed([("x", "X")])
        #expect(gate.decide(publicKey: "X") == .admit(name: "x"))
        #expect(gate.decide(publicKey: "A") == .refuse(log: .firstForKey))
        gate.replaceAllowed([])
        #expect(gate.decide(publicKey: "X") == .refuse(log: .firstForKey))
    }

    @Test func remembersABoundedNumberOfUnknownKeys() {
        var gate = WorkerKeyGate()
        for index in 0..<WorkerKeyGate.rememberedKeys {
            #expect(gate.decide(publicKey: "key-\(index)") == .refuse(log: .firstForKey))
        }
        #expect(gate.decide(publicKey: "one-too-many") == .refuse(log: .tooManyKeys))
        #expect(gate.decide(publicKey: "and-another") == .refuse(log: nil))
        #expect(gate.decide(publicKey: "key-0") == .refuse(log: nil))
    }

    @Test func logsAHandshakeFailureOnceThenCountsHourly() {
        var gate = WorkerKeyGate()
        #expect(gate.handshakeFailed(code: 7, now: 0) == .first)
        #expect(gate.handshakeFailed(code: 7, now: 1) == nil)
        #expect(gate.handshakeFailed(code: 9, now: 2) == .first)
        #expect(gate.handshakeFailed(code: 7, now: 3599) == nil)
        #expect(gate.handshakeFailed(code: 7, now: 3600) == .repeated(count: 3))
        #expect(gate.handshakeFailed(code: 7, now: 3601) == nil)
    }
}
