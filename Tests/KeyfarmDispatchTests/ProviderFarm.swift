import Foundation
import KeyfarmFakeProvider
import KeyfarmPostgres
import KeyfarmProcess
import KeyfarmTestSupport

/// A farm that renders through providers: the fake provider as its own process, and a
/// coordinator and workers whose environment points every provider API at it, with keys
/// the tests can look for afterwards in logs and tables.
final class ProviderFarm {
    static let keys = ["LUMA_API_KEY": "luma-sk-e2e-7f3a9c1d4b", "FAL_KEY": "fal-key-e2e-2c8e6a0f1b",
                       "WAVESPEED_API_KEY": "ws-key-e2e-5d1b9e7c3a"]

    let farm: Farm
    let fake: TestDaemon
    let fakeURL: String
    let storage: String
    let directory: String
    var environment: [String: String]

    /// How many provider farms run at once. Each renders real media with ffmpeg; on a 2-core
    /// machine a dozen at once slowed every one of them past its timeouts. Tests wait their turn
    /// here (on their own threads, see `offPool`), and their clocks start once they have it.
    static let turns = DispatchSemaphore(value: 3)

    /// Starts the fake provider; `stepMilliseconds` paces its generations by time instead of per poll.
    init(stepMilliseconds: Int? = nil) throws {
        Self.turns.wait()
        var started = false
        defer { if !started { Self.turns.signal() } }
        farm = try Farm()
        directory = NSTemporaryDirectory() + "keyfarm-render-\(UUID().uuidString.lowercased())"
        storage = directory + "/storage"
        try FileManager.default.createDirectory(atPath: storage, withIntermediateDirectories: true)
        var arguments = ["fake-provider", "--listen", "127.0.0.1:0", "--directory", directory + "/fake"]
        if let stepMilliseconds { arguments += ["--step-ms", "\(stepMilliseconds)"] }
        fake = try TestDaemon(farm.binary, arguments, environment: farm.environment)
        var found: String?
        for _ in 0..<600 where found == nil {
            found = fake.log.split(separator: "\n").first { $0.hasPrefix("http://") }.map(String.init)
            if found == nil {
                guard fake.isRunning else { break }
                usleep(50_000)
            }
        }
        guard let found else { throw ChildProcessError(description: "keyfarm fake-provider did not start: \(fake.log)") }
        fakeURL = found
        environment = farm.environment
        for (name, value) in Self.keys { environment[name] = value }
        environment.merge(FakeProvider.endpointEnvironment(baseURL: fakeURL)) { $1 }
        started = true
    }

    deinit {
        fake.killHard()
        try? FileManager.default.removeItem(atPath: directory)
        Self.turns.signal()
    }

    /// Heartbeats for provider tests: a worker is lost after 2 s of silence, roomier than the
    /// dispatch tests' 0.8 s, since these tests share the machine with ffmpeg renders.
    static let heartbeatMilliseconds = 250
    static let liveness = 8

    func startCoordinator(_ arguments: [String] = []) throws {
        farm.coordinator = try TestDaemon(farm.binary, [
            "coordinator", "--bind", farm.endpoint, "--heartbeat-ms", "\(Self.heartbeatMilliseconds)",
            "--liveness", "\(Self.liveness)",
        ] + arguments, environment: environment)
    }

    /// A worker offering every provider, serving keyframes on a loopback port of its own.
    @discardableResult
    func startWorker(_ name: String, slots: Int = 4, pollMilliseconds: Int = 100,
                     engines: String = "luma/*,fal/*,wavespeed/*", extraArguments: [String] = []) throws -> TestDaemon {
        let port = freeLoopbackPort()
        let daemon = try TestDaemon(farm.binary, [
            "worker", "--connect", farm.endpoint, "--name", name, "--slots", "\(slots)", "--storage", storage,
            "--heartbeat-ms", "\(Self.heartbeatMilliseconds)", "--engines", engines,
            "--serve-artifacts", "127.0.0.1:\(port)", "--public-url", "http://127.0.0.1:\(port)",
            "--poll-ms", "\(pollMilliseconds)", "--encode-preset", "ultrafast",
        ] + extraArguments, environment: environment)
        farm.workers[name] = daemon
        return daemon
    }

    /// Writes a shot list into the test's directory and submits it with `keyfarm submit`.
    func submit(_ yaml: String, name: String) throws {
        let path = directory + "/\(name).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let outcome = try ChildProcess(executable: farm.binary, arguments: ["submit", path], environment: environment).run()
        guard outcome.status == 0 else {
            throw ChildProcessError(description: "keyfarm submit exited \(outcome.status): \(outcome.output)")
        }
    }

    /// A `keyfarm` command's output (it must exit 0).
    func keyfarm(_ arguments: [String]) throws -> String {
        let outcome = try ChildProcess(executable: farm.binary, arguments: arguments, environment: environment).run()
        guard outcome.status == 0 else {
            throw ChildProcessError(description: "keyfarm \(arguments.joined(separator: " ")) exited \(outcome.status): \(outcome.output)")
        }
        return outcome.output
    }

    /// GET on the fake (its control API, or an API with `authorization`), as JSON.
    func fakeJSON(_ path: String, authorization: String? = nil, method: String = "GET") throws -> Any {
        let header = authorization.map { ["-H", "Authorization: \($0)"] } ?? []
        let outcome = try ChildProcess(executable: "/usr/bin/curl",
                                       arguments: ["-sS", "--max-time", "10", "-X", method] + header + [fakeURL + path],
                                       environment: [:]).run()
        guard outcome.status == 0 else { throw ChildProcessError(description: "curl \(path): \(outcome.output)") }
        return try JSONSerialization.jsonObject(with: Data(outcome.output.utf8))
    }

    func postFaults(_ json: String) throws {
        let outcome = try ChildProcess(executable: "/usr/bin/curl", arguments: [
            "-sS", "--max-time", "10", "-X", "POST", "-H", "Content-Type: application/json", "--data", json,
            fakeURL + "/_fake/faults",
        ], environment: [:]).run()
        guard outcome.status == 0, outcome.output.contains("\"ok\"") else {
            throw ChildProcessError(description: "cannot set faults: \(outcome.output)")
        }
    }

    /// The requests the fake received that created a generation (POSTs other than its controls
    /// and Luma's Files API).
    func creates() throws -> [[String: Any]] {
        let requests = try fakeJSON("/_fake/requests") as? [[String: Any]] ?? []
        return requests.filter {
            ($0["method"] as? String) == "POST" && ($0["status"] as? Int).map { $0 < 300 } == true
                && !(($0["path"] as? String) ?? "").hasPrefix("/v1/files")
        }
    }

    /// Waits until `stitches` of the list's stitch jobs have succeeded, or one of its jobs has
    /// failed (the logs then say why); true only when every stitch succeeded and nothing failed.
    func waitForStitches(_ list: String, _ stitches: Int, timeout: Duration = .seconds(300)) throws -> Bool {
        func stitched() throws -> Int {
            try farm.count("SELECT count(*)::int AS n FROM keyfarm.v_jobs WHERE shot_list = $1 AND kind = 'stitch' AND state = 'succeeded'", [list])
        }
        func failed() throws -> Int {
            try farm.count("SELECT count(*)::int AS n FROM keyfarm.v_jobs WHERE shot_list = $1 AND state = 'failed'", [list])
        }
        _ = try eventually(timeout: timeout) { try stitched() == stitches || failed() > 0 }
        return try stitched() == stitches && failed() == 0
    }

    /// Billed generations per fake API.
    func billed() throws -> [String: Int] {
        let billing = try fakeJSON("/_fake/billing") as? [String: [String: Int]] ?? [:]
        return billing.mapValues { $0["billed"] ?? 0 }
    }

    func segmentStates(_ list: String) throws -> [String: Int] {
        var states: [String: Int] = [:]
        for row in try farm.store.connection.execute("""
            SELECT state, count(*) AS n FROM keyfarm.v_jobs WHERE shot_list = $1 AND kind = 'segment' GROUP BY state
            """, [list]).rows {
            states[try row.decode("state", as: String.self)] = try row.decode("n", as: Int.self)
        }
        return states
    }

    /// The net credits the ledger holds for a shot list: charges plus (negative) refunds and adjustments.
    func ledgerNet(_ list: String) throws -> Int {
        try farm.count("""
            SELECT COALESCE(sum(l.credits) FILTER (WHERE l.entry IN ('charge', 'refund', 'adjustment')), 0)::int AS n
            FROM keyfarm.credit_ledger l JOIN keyfarm.shot_lists s ON s.id = l.shot_list_id WHERE s.name = $1
            """, [list])
    }

    /// Everything the daemons printed.
    var logs: String { farm.logs + "\n--- fake\n" + fake.log.suffix(3000) }

    /// Every log line of every daemon, in full.
    var fullLogs: String {
        ([farm.coordinator, fake] + Array(farm.workers.values)).compactMap { $0?.log }.joined(separator: "\n")
    }
}

/// The example keyframes shipped in examples/refs.
enum Refs {
    static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/refs").path
    }

    static func path(_ name: String) -> String { directory + "/" + name }
}
