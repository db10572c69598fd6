import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmProcess
import KeyfarmProviders
import KeyfarmStore
import Logging

/// The farm a chaos run abuses: a private PostgreSQL cluster, the fake provider, a
/// coordinator and workers, all real processes on loopback. It plays systemd too: a daemon
/// that exits is started again after a short pause (Restart=always), so the farm must recover
/// from whatever the run does to it.
public final class ChaosFarm {
    public struct Settings {
        public var root: String
        public var workers: Int
        public var slots: Int
        public var heartbeatMilliseconds = 500
        public var liveness = 4
        /// Coordinators on one database: with two, a leader and a standby.
        public var coordinators = 1

        public init(root: String, workers: Int, slots: Int) {
            self.root = root
            self.workers = workers
            self.slots = slots
        }
    }

    let settings: Settings
    let executable: String
    let logger: Logger
    let cluster: EmbeddedCluster
    private(set) var conninfo = ""
    public private(set) var fakeURL = ""
    /// The coordinators' endpoints; workers are given them all.
    public private(set) var endpoints: [String] = []
    private var environment: [String: String]
    private var workerEnvironment: [String: String] = [:]
    private var artifactPorts: [Int] = []
    private(set) var coordinators: [BackgroundProcess?]
    private(set) var workers: [BackgroundProcess?]
    private var fake: BackgroundProcess?
    /// When an exited daemon is due to be started again (systemd's RestartSec).
    private var restartAt: [String: Date] = [:]
    private var store: FarmStore?

    /// What happened, for the report.
    private(set) var counts: [String: Int] = [:]
    /// Coordinator kills waiting for a new leader: the lease's epoch then, and when (database clock).
    private var awaitingTakeover: [(epoch: Int64, killedAt: Double)] = []
    /// Seconds from each kill of a leader to the lease taken at a later epoch.
    private(set) var takeovers: [Double] = []

    var storage: String { settings.root + "/storage" }
    public var logs: String { settings.root + "/logs" }

    /// `environment` is what the daemons start with (the command's own).
    public init(settings: Settings, executable: String, logger: Logger, environment: [String: String]) {
        self.settings = settings
        self.executable = executable
        self.logger = logger
        var cluster = EmbeddedCluster(dataDirectory: settings.root + "/pg", logger: logger)
        // With standbys it runs as a farm that fails over must: every commit on disk.
        cluster.durable = settings.coordinators > 1
        self.cluster = cluster
        workers = Array(repeating: nil, count: settings.workers)
        coordinators = Array(repeating: nil, count: settings.coordinators)
        self.environment = environment
        self.environment["KEYFARM_LOG_LEVEL"] = environment["KEYFARM_LOG_LEVEL"] ?? "info"
        self.environment.removeValue(forKey: "NOTIFY_SOCKET")
    }

    deinit { stopAll() }

    // MARK: Starting

    /// Starts PostgreSQL (migrated), the fake provider with `faultRates`, the coordinator and the workers.
    public func start(faultRates: [String: Any]) throws {
        conninfo = try cluster.ensureRunning()
        environment["KEYFARM_DATABASE_URL"] = conninfo
        _ = try database { try $0.migrate() }

        let fakePort = try LoopbackPort.unused()
        fake = try spawn("fake-provider", ["fake-provider", "--listen", "127.0.0.1:\(fakePort)",
                                           "--directory", settings.root + "/fake", "--step-ms", "250"], environment: environment)
        try LocalFarm.waitForListener(port: fakePort, daemon: fake!)
        fakeURL = "http://127.0.0.1:\(fakePort)"
        let response = try fakeRequest("POST", "/_fake/faults", body: ["rates": faultRates])
        guard response.isSuccess else { throw HarnessFailure("chaos: the fake provider refused the fault rates: \(response.text)", status: HarnessFailure.failure) }

        endpoints = try (0..<settings.coordinators).map { _ in "tcp://127.0.0.1:\(try LoopbackPort.unused())" }
        workerEnvironment = LocalFarm.workerEnvironment(environment, fakeURL: fakeURL)
        artifactPorts = try (0..<settings.workers).map { _ in try LoopbackPort.unused() }
        for index in coordinators.indices { try startCoordinator(index) }
        for index in workers.indices { try startWorker(index) }
    }

    func coordinatorName(_ index: Int) -> String { coordinators.count == 1 ? "coordinator" : "coordinator-\(index + 1)" }

    func startCoordinator(_ index: Int) throws {
        coordinators[index] = try spawn(coordinatorName(index), ["coordinator", "--bind", endpoints[index],
                                                                 "--heartbeat-ms", "\(settings.heartbeatMilliseconds)",
                                                                 "--liveness", "\(settings.liveness)"], environment: environment)
    }

    func workerName(_ index: Int) -> String { "chaos-worker-\(index + 1)" }

    func startWorker(_ index: Int) throws {
        workers[index] = try spawn(workerName(index), LocalFarm.workerArguments(
            endpoint: endpoints.joined(separator: ","), name: workerName(index), slots: settings.slots, storage: storage,
            // The chaos run's clips are checked, not watched: the fastest encode.
            artifactPort: artifactPorts[index], encodePreset: "ultrafast") + ["--heartbeat-ms", "\(settings.heartbeatMilliseconds)"],
            environment: workerEnvironment)
    }

    private func spawn(_ name: String, _ arguments: [String], environment: [String: String]) throws -> BackgroundProcess {
        let log = logs + "/\(name).log"
        let stamp = "--- keyfarm chaos: starting \(name), \(ISO8601DateFormatter().string(from: Date()))\n"
        if let handle = FileHandle(forWritingAtPath: log) {
            handle.seekToEndOfFile()
            handle.write(Data(stamp.utf8))
            try? handle.close()
        } else {
            _ = FileManager.default.createFile(atPath: log, contents: Data(stamp.utf8))
        }
        return try BackgroundProcess(name: name, executable: executable, arguments: arguments,
                                     environment: environment, logPath: log)
    }

    // MARK: Faults

    /// SIGKILLs worker `index`; it is started again by `supervise` after `restartDelay` seconds.
    func killWorker(_ index: Int, restartDelay: Double) {
        guard let worker = workers[index], worker.isRunning else { return }
        worker.killHard()
        counts["worker_kills", default: 0] += 1
        restartAt[workerName(index)] = Date().addingTimeInterval(restartDelay)
    }

    /// SIGKILLs the coordinator that leads (the first when none does); `supervise` starts it
    /// again after `restartDelay` seconds, and `checkTakeovers` times the next leader. Returns
    /// its name and pid.
    func killLeader(restartDelay: Double) throws -> (name: String, pid: Int32)? {
        let lease = try currentLease()
        let index = lease.flatMap { endpoints.firstIndex(of: $0.endpoint) } ?? 0
        guard let coordinator = coordinators[index], coordinator.isRunning else { return nil }
        coordinator.killHard()
        counts["coordinator_kills", default: 0] += 1
        if let lease { awaitingTakeover.append((lease.epoch, lease.now)) }
        restartAt[coordinatorName(index)] = Date().addingTimeInterval(restartDelay)
        return (coordinatorName(index), coordinator.pid)
    }

    /// The unexpired lease: who holds it, at which epoch, since when, and the database's clock
    /// now (seconds since 1970); nil when no coordinator leads.
    private func currentLease() throws -> (endpoint: String, epoch: Int64, since: Double, now: Double)? {
        try database { store in
            try store.connection.execute("""
                SELECT endpoint, epoch, extract(epoch FROM since)::float8 AS since,
                       extract(epoch FROM clock_timestamp())::float8 AS now
                FROM keyfarm.coordinator_lease WHERE expires_at > now()
                """).rows.first.map { (endpoint: try $0.decode("endpoint", as: String.self), epoch: try $0.decode("epoch", as: Int64.self),
                                       since: try $0.decode("since", as: Double.self), now: try $0.decode("now", as: Double.self)) }
        }
    }

    /// Looks for leaders that took over since a kill; a line for each.
    func checkTakeovers() throws -> [String] {
        guard let oldest = awaitingTakeover.first else { return [] }
        guard let lease = try currentLease(), lease.epoch > oldest.epoch else { return [] }
        awaitingTakeover.removeAll()
        let seconds = max(0, lease.since - oldest.killedAt)
        takeovers.append(seconds)
        let name = endpoints.firstIndex(of: lease.endpoint).map(coordinatorName) ?? lease.endpoint
        return [String(format: "%@ leads at epoch %lld, %.2f s after the leader's SIGKILL", name, lease.epoch, seconds)]
    }

    /// Stops PostgreSQL at once (every server process quits, as in a crash), waits, and starts it again.
    func restartPostgres(downFor seconds: Double) throws {
        store?.connection.close()
        store = nil
        try cluster.stop(immediately: true)
        counts["postgres_restarts", default: 0] += 1
        Thread.sleep(forTimeInterval: seconds)
        _ = try cluster.ensureRunning()
    }

    /// Starts again every daemon that exited, once its pause is over, as systemd would.
    /// Returns a line for each restart it made.
    func supervise() throws -> [String] {
        var events: [String] = []
        let now = Date()
        func due(_ name: String, exited status: Int32) -> Bool {
            if let at = restartAt[name] { return now >= at }
            // It exited by itself (the coordinator loses its database, say): systemd's pause.
            counts["\(name.hasPrefix("coordinator") ? "coordinator" : "worker")_exits", default: 0] += 1
            events.append("\(name) exited by itself (status \(status)); restarting in 1 s")
            restartAt[name] = now.addingTimeInterval(1)
            return false
        }
        for index in coordinators.indices {
            let name = coordinatorName(index)
            guard let coordinator = coordinators[index], let status = coordinator.poll(), due(name, exited: status) else { continue }
            restartAt[name] = nil
            try startCoordinator(index)
            events.append("restarted \(name == "coordinator" ? "the coordinator" : name) (pid \(coordinators[index]!.pid))")
        }
        for index in workers.indices {
            guard let worker = workers[index], let status = worker.poll(), due(workerName(index), exited: status) else { continue }
            restartAt[workerName(index)] = nil
            try startWorker(index)
            events.append("restarted \(workerName(index)) (pid \(workers[index]!.pid))")
        }
        if let fake, !fake.isRunning {
            throw HarnessFailure("chaos: the fake provider exited (status \(fake.poll() ?? -1)); the end of \(fake.logPath):\n\(fake.logTail())", status: HarnessFailure.failure)
        }
        return events
    }

    /// Stops every daemon: workers first (they say goodbye), then the coordinator and the fake.
    public func stopAll() {
        for worker in workers.compactMap({ $0 }) { worker.stop(timeout: 10) }
        for coordinator in coordinators.compactMap({ $0 }) { coordinator.stop(timeout: 10) }
        fake?.stop(timeout: 5)
        store?.connection.close()
        store = nil
    }

    /// Stops the cluster too (at the very end).
    public func stopPostgres() { try? cluster.stop() }

    // MARK: Talking to the farm

    /// Runs `body` on a connection to the farm's database, reconnecting (for up to a minute)
    /// when the connection was lost, as it is while PostgreSQL restarts.
    func database<T>(_ body: (FarmStore) throws -> T) throws -> T {
        let deadline = Date().addingTimeInterval(60)
        while true {
            do {
                if store == nil { store = try FarmStore(conninfo: conninfo, logger: logger) }
                return try body(store!)
            } catch let error as PostgresError where !error.isStatementError && Date() < deadline {
                store?.connection.close()
                store = nil
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }

    /// One request to the fake's controls.
    func fakeRequest(_ method: String, _ path: String, body: [String: Any]? = nil) throws -> KeyfarmProviders.HTTPResponse {
        let client = try HTTPClient(logger: logger)
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        return try client.send(HTTPRequest(method: method, url: fakeURL + path,
                                           headers: data == nil ? [] : [("Content-Type", "application/json")],
                                           body: data.map { Array($0) }))
    }
}
