import Foundation
import KeyfarmCore
import KeyfarmProcess
import KeyfarmStore
import KeyfarmWire

/// `keyfarm bench workers`: how many workers one coordinator carries. A real coordinator runs
/// as a process of its own; `workers` simulated workers (`WorkerSwarm`) connect to it from a
/// few processes, with `kill` of them in a process of their own. Four phases:
///
/// 1. connect: every worker says HELLO and is welcomed;
/// 2. idle: for `seconds`, they heartbeat at 1 Hz (each heartbeat pings, the coordinator answers
///    at once): the coordinator's CPU (from /proc) and the round trips;
/// 3. dispatch: `jobs` no-op smoke jobs queued at once, run by all of them;
/// 4. loss: the `kill` workers' process is SIGKILLed, and the time until the database shows
///    them all lost is taken.
public struct WorkerScaleBench {
    /// What the run measured.
    public struct Figures: Encodable, Sendable {
        public var workers: Int
        /// The coordinator process's CPU while the workers only heartbeat, in cores.
        public var coordinator_cpu_cores: Double
        /// Its database session's backend over the same window (nil when it cannot be read:
        /// another host, or no privilege to see the backend's pid).
        public var database_cpu_cores: Double?
        /// The simulated workers' processes over the same window.
        public var swarm_cpu_cores: Double
        public var heartbeat_rtt_p50_ms: Double
        public var heartbeat_rtt_p99_ms: Double
        /// Round trips measured per second in the idle window (about one per worker).
        public var heartbeats_per_s: Double
        public var jobs_per_s: Double
        /// From the SIGKILL to the last of the killed workers marked lost.
        public var loss_detect_s: Double
        /// From the first process started to the last worker welcomed.
        public var connect_s: Double
        public var jobs: Int
        public var killed: Int
        public var seconds: Double
        public var processes: Int
    }

    public var workers: Int
    public var seconds: Double
    public var jobs: Int
    public var kill: Int
    public var processes: Int
    public var slots: Int
    /// This keyfarm binary: the coordinator and the swarms are started from it.
    public var executable: String

    public init(workers: Int, seconds: Double, jobs: Int, kill: Int, processes: Int, slots: Int, executable: String) {
        self.workers = workers
        self.seconds = seconds
        self.jobs = jobs
        self.kill = kill
        self.processes = processes
        self.slots = slots
        self.executable = executable
    }

    /// How many swarm processes carry `workers` by default: one per 2,500.
    public static func defaultProcesses(workers: Int) -> Int { max(1, min(16, (workers + 2_499) / 2_500)) }

    /// Runs the bench on `store`'s database; `conninfo` reaches the same database and goes to the
    /// coordinator through its environment (never its arguments). Progress lines go to `report`.
    public func run(store: FarmStore, conninfo: String, report: (String) -> Void) throws -> Figures {
        let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let prefix = "bench-\(run)"
        let directory = NSTemporaryDirectory() + "keyfarm-bench-workers-\(run)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let limit = DescriptorLimit.raiseToHardLimit()
        report("\(workers) workers in \(processes + 1) processes; descriptor limit \(limit)")

        // The coordinator: a process of its own, so its CPU is its own.
        let port = try LoopbackPort.unused()
        let endpoint = "tcp://127.0.0.1:\(port)"
        let applicationName = "keyfarm-bench-coordinator-\(run)"
        var environment = ProcessInfo.processInfo.environment
        environment["KEYFARM_DATABASE_URL"] = conninfo
        environment["PGAPPNAME"] = applicationName
        environment["KEYFARM_LOG_LEVEL"] = "warning"
        let coordinator = try BackgroundProcess(name: "coordinator", executable: executable,
                                                arguments: ["coordinator", "--bind", endpoint],
                                                environment: environment, logPath: directory + "/coordinator.log")
        var swarms: [BackgroundProcess] = []
        var finished = false
        defer {
            for swarm in swarms { swarm.stop(timeout: 5) }
            coordinator.stop(timeout: 10)
            if finished { try? FileManager.default.removeItem(atPath: directory) }
        }
        func failure(_ message: String) -> HarnessFailure {
            HarnessFailure("\(message); the logs are in \(directory); the end of the coordinator's:\n\(coordinator.logTail())",
                           status: HarnessFailure.failure)
        }
        let leading = waitFor(seconds: 20, poll: 0.05) { () -> Bool? in
            if !coordinator.isRunning { return false }
            let rows = try? store.connection.execute("""
                SELECT 1 FROM keyfarm.coordinator_lease WHERE endpoint = $1 AND expires_at > now()
                """, [endpoint]).rows
            return (rows?.isEmpty == false) ? true : nil
        }
        guard leading == true else {
            throw failure(coordinator.isRunning
                ? "the bench's coordinator did not take the lead within 20 s: another coordinator leads this database (run the bench on a database of its own; make bench starts a temporary one)"
                : "the bench's coordinator exited")
        }

        // The swarms report to this socket once a second.
        let context = try ZMQContext()
        defer { context.terminate(waitingAtMost: .seconds(1)) }
        let reports = try ZMQSocket(context: context, type: .pull)
        defer { reports.close() }
        try reports.setLinger(milliseconds: 0)
        try reports.bind("tcp://127.0.0.1:*")
        guard let reportEndpoint = reports.lastEndpoint else { throw failure("the report socket has no endpoint") }
        var collected = Collected()
        func pump() {
            while let frames = try? reports.receive(dontWait: true), let body = frames.first,
                  let swarmReport = try? JSONDecoder().decode(WorkerSwarm.Report.self, from: Data(body)) {
                collected.add(swarmReport)
            }
        }

        // 1. Connect.
        let connectStart = Date()
        let regular = workers - kill
        var sizes = (0..<processes).map { regular / processes + ($0 < regular % processes ? 1 : 0) }
        sizes.append(kill)
        for (index, size) in sizes.enumerated() where size > 0 {
            let isKillGroup = index == sizes.count - 1
            let namePrefix = isKillGroup ? "\(prefix)-k" : "\(prefix)-p\(index)"
            swarms.append(try BackgroundProcess(
                name: isKillGroup ? "swarm of the workers to kill" : "swarm \(index)", executable: executable,
                arguments: ["bench", "swarm", "--connect", endpoint, "--report", reportEndpoint, "--workers", "\(size)",
                            "--name-prefix", namePrefix, "--slots", "\(slots)"],
                environment: ProcessInfo.processInfo.environment, logPath: directory + "/swarm-\(index).log"))
        }
        var lastProgress = Date()
        let connected = waitFor(seconds: 60 + Double(workers) / 100, poll: 0.05) { () -> Bool? in
            pump()
            if !coordinator.isRunning || swarms.contains(where: { !$0.isRunning }) { return false }
            let welcomed = collected.welcomed
            if Date().timeIntervalSince(lastProgress) > 2 {
                lastProgress = Date()
                report("connect: \(welcomed)/\(workers) welcomed")
            }
            return welcomed == workers ? true : nil
        }
        guard connected == true else {
            if let exited = swarms.first(where: { !$0.isRunning }) {
                throw failure("\(exited.name) exited (status \(exited.poll() ?? -1)); the end of its log:\n\(exited.logTail())")
            }
            throw failure("only \(collected.welcomed) of \(workers) workers were welcomed")
        }
        let connectSeconds = Date().timeIntervalSince(connectStart)
        let ready = try store.connection.execute("""
            SELECT count(*) AS n FROM keyfarm.workers WHERE name LIKE $1 AND state = 'ready'
            """, ["\(prefix)-%"]).rows[0].decode("n", as: Int.self)
        guard ready == workers else { throw failure("\(workers) workers were welcomed but the database shows \(ready) ready") }
        report("connect: \(workers) workers welcomed in \(String(format: "%.1f", connectSeconds)) s")

        // 2. Idle: heartbeats only, after the connection burst has settled.
        _ = waitFor(seconds: 2, poll: 0.1) { () -> Bool? in pump(); return nil }
        let backends = try databaseBackends(store, applicationName: applicationName)
        let swarmPIDs = swarms.map(\.pid)
        let before = (coordinator: CPUTime.of(coordinator.pid), database: backends.map { CPUTime.of($0) }, swarms: swarmPIDs.map { CPUTime.of($0) },
                      at: Date().timeIntervalSince1970)
        report("idle: measuring for \(String(format: "%g", seconds)) s")
        _ = waitFor(seconds: seconds, poll: 0.1) { () -> Bool? in pump(); return nil }
        let after = (coordinator: CPUTime.of(coordinator.pid), database: backends.map { CPUTime.of($0) }, swarms: swarmPIDs.map { CPUTime.of($0) },
                     at: Date().timeIntervalSince1970)
        _ = waitFor(seconds: 1.2, poll: 0.1) { () -> Bool? in pump(); return nil }   // the window's last reports
        let window = after.at - before.at
        guard let coordinatorBefore = before.coordinator, let coordinatorAfter = after.coordinator else {
            throw failure("cannot read the coordinator's CPU time from /proc/\(coordinator.pid)/stat")
        }
        func cores(_ start: [Double?], _ end: [Double?]) -> Double? {
            guard !start.isEmpty, start.count == end.count else { return nil }
            var total = 0.0
            for (first, last) in zip(start, end) {
                guard let first, let last else { return nil }
                total += last - first
            }
            return total / window
        }
        let measured = collected.roundTrips(from: before.at, to: after.at)
        let roundTrips = measured.milliseconds.sorted()
        guard !roundTrips.isEmpty else { throw failure("no heartbeat round trip was measured in the idle window") }
        report("idle: \(roundTrips.count) round trips in \(String(format: "%.1f", measured.seconds)) s of reports")

        // 3. Dispatch.
        let rate = try DispatchBench.throughput(store: store, list: "\(prefix)-throughput", jobs: jobs, report: report)
        report("dispatch: \(Int(rate)) jobs/s")

        // 4. Loss: the kill group's process dies at once, as a host losing power would take it.
        guard let victims = swarms.last else { throw failure("no swarm to kill") }
        victims.killHard()
        let killedAt = Date()
        let lost = waitFor(seconds: 30, poll: 0.01) { () -> Double? in
            let count = try? store.connection.execute("""
                SELECT count(*) AS n FROM keyfarm.workers WHERE name LIKE $1 AND state = 'lost'
                """, ["\(prefix)-k-%"]).rows[0].decode("n", as: Int.self)
            return count == kill ? Date().timeIntervalSince(killedAt) : nil
        }
        guard let lossSeconds = lost else { throw failure("the \(kill) killed workers were not all marked lost within 30 s") }
        report("loss: \(kill) killed workers marked lost after \(String(format: "%.2f", lossSeconds)) s")
        guard coordinator.isRunning else { throw failure("the coordinator exited during the bench") }
        finished = true
        return Figures(workers: workers, coordinator_cpu_cores: rounded((coordinatorAfter - coordinatorBefore) / window, 3),
                       database_cpu_cores: cores(before.database, after.database).map { rounded($0, 3) },
                       swarm_cpu_cores: rounded(cores(before.swarms, after.swarms) ?? 0, 3),
                       heartbeat_rtt_p50_ms: percentile(roundTrips, 0.50), heartbeat_rtt_p99_ms: percentile(roundTrips, 0.99),
                       heartbeats_per_s: (Double(roundTrips.count) / max(measured.seconds, 1)).rounded(),
                       jobs_per_s: rate, loss_detect_s: rounded(lossSeconds, 2), connect_s: rounded(connectSeconds, 1),
                       jobs: jobs, killed: kill, seconds: rounded(window, 2), processes: swarms.count)
    }

    /// The server processes of the coordinator's sessions, when they run on this machine and
    /// this role may see them.
    private func databaseBackends(_ store: FarmStore, applicationName: String) throws -> [Int32] {
        let pids = try store.connection.execute("""
            SELECT pid FROM pg_stat_activity WHERE application_name = $1
            """, [applicationName]).rows.map { try $0.decode("pid", as: Int32.self) }
        let local = pids.filter { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("postgres") == true
        }
        return local.count == pids.count ? local : []
    }

    private func rounded(_ value: Double, _ places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (value * scale).rounded() / scale
    }
}

/// What the swarms reported: each one's latest welcomed count, and the round trips of every
/// report with the time the swarm sent it.
struct Collected {
    private var welcomedByProcess: [Int32: Int] = [:]
    private var reports: [(at: Double, milliseconds: [Double])] = []

    var welcomed: Int { welcomedByProcess.values.reduce(0, +) }
    var processes: Int { welcomedByProcess.count }

    mutating func add(_ report: WorkerSwarm.Report) {
        welcomedByProcess[report.pid] = report.welcomed
        reports.append((report.at, report.roundTrips.map { Double($0) / 1000 }))
    }

    /// The round trips (ms) of the reports that cover only time within the window (a report
    /// covers the second before it was sent), and how many seconds of every process they cover.
    func roundTrips(from start: Double, to end: Double) -> (milliseconds: [Double], seconds: Double) {
        let inside = reports.filter { $0.at - 1 >= start && $0.at <= end }
        return (inside.flatMap(\.milliseconds), Double(inside.count) / Double(max(processes, 1)))
    }
}

/// A process's CPU time (user + system), in seconds, from /proc/<pid>/stat.
enum CPUTime {
    static func of(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After the command name: state is field 3, utime field 14, stime field 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
