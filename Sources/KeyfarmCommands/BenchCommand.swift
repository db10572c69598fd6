import ArgumentParser
import Foundation
import KeyfarmCoordinator
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmWire
import KeyfarmWorker
import Logging
import Synchronization

/// `keyfarm bench`: benchmarks that print figures.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the farm's speed and the interpolation engine's quality.",
        subcommands: [DispatchBenchCommand.self, InterpolateBenchCommand.self, StitchBenchCommand.self])
}

/// `keyfarm bench dispatch`: jobs per second and dispatch latency through a real coordinator and workers.
struct DispatchBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract: "Run a coordinator and --workers workers in this process and time no-op jobs through them.",
        discussion: """
            Real ZeroMQ over TCP loopback and the real database (--database-url, $KEYFARM_DATABASE_URL \
            or the embedded cluster). First the latency phase: --probes single jobs one after another on \
            idle workers, timing job ready (queued) to worker received (ASSIGN in hand). Then the \
            throughput phase: --jobs no-op jobs queued at once, timed from queued to the last recorded \
            success. Prints a table, or with --json one line \
            {"jobs_per_s", "p50_ms", "p99_ms", "jobs", "workers"}.
            """)

    @Option(help: ArgumentHelp("No-op jobs in the throughput phase.", valueName: "count"))
    var jobs: Int = 10_000
    @Option(help: ArgumentHelp("Workers, each with its own DEALER socket and reactor thread.", valueName: "count"))
    var workers: Int = 64
    @Option(help: ArgumentHelp("Slots per worker.", valueName: "count"))
    var slots: Int = 4
    @Option(help: ArgumentHelp("Single jobs timed one by one for the latency figures.", valueName: "count"))
    var probes: Int = 200
    @Flag(help: "Print one JSON line instead of a table.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (1...10_000_000).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 10000000") }
        guard (1...1024).contains(workers) else { throw ValidationError("--workers must be between 1 and 1024") }
        guard (1...256).contains(slots) else { throw ValidationError("--slots must be between 1 and 256") }
        guard (1...100_000).contains(probes) else { throw ValidationError("--probes must be between 1 and 100000") }
    }

    struct Figures: Encodable {
        var jobs_per_s: Double
        var p50_ms: Double
        var p99_ms: Double
        var jobs: Int
        var workers: Int
    }

    func run() throws {
        try reportingFailures {
            var configured = try common.logger()
            configured.logLevel = max(configured.logLevel, .warning)
            let logger = configured
            let store = try database.openStore(logger: logger)
            let conninfo = try currentConninfo(store)
            let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)

            // The coordinator, on its own thread with its own database connection.
            let coordinatorStop = StopSignal()
            let endpoint = Mutex<String?>(nil)
            let coordinatorDone = DispatchSemaphore(value: 0)
            let coordinatorError = Mutex<String?>(nil)
            Thread.detachNewThread {
                defer { coordinatorDone.signal() }
                do {
                    let store = try FarmStore(conninfo: conninfo, logger: logger)
                    let coordinator = try Coordinator(configuration: CoordinatorConfiguration(bind: "tcp://127.0.0.1:*"),
                                                      store: store, logger: logger)
                    try coordinator.run(until: coordinatorStop, onReady: { endpoint.withLock { $0 = coordinator.endpoint } })
                } catch {
                    coordinatorError.withLock { $0 = "\(error)" }
                }
            }
            guard let bound = waitFor({ endpoint.withLock { $0 } ?? coordinatorError.withLock { $0.map { _ in "" } } }),
                  !bound.isEmpty else {
                throw CommandFailure("the coordinator did not start: \(coordinatorError.withLock { $0 } ?? "timeout")",
                                     status: ExitStatus.failure)
            }

            // The workers, each on its own reactor thread.
            let workerStops = (0..<workers).map { _ in StopSignal() }
            let workersDone = DispatchGroup()
            let storage = NSTemporaryDirectory() + "keyfarm-bench-\(run)"
            for index in 0..<workers {
                let stop = workerStops[index]
                workersDone.enter()
                Thread.detachNewThread { [slots] in
                    defer { workersDone.leave() }
                    let configuration = WorkerConfiguration(connect: bound, name: "bench-\(run)-\(index)", slots: slots,
                                                            engines: ["smoke"], storage: storage, version: KeyfarmCommand.version)
                    guard let worker = try? Worker(configuration: configuration, engines: ["smoke": SmokeEngine()], logger: logger,
                                                   notifier: SystemdNotifier(environment: [:])) else { return }
                    _ = try? worker.run(until: stop)
                }
            }
            defer {
                workerStops.forEach { $0.trigger() }
                _ = workersDone.wait(timeout: .now() + 30)
                coordinatorStop.trigger()
                _ = coordinatorDone.wait(timeout: .now() + 30)
                try? FileManager.default.removeItem(atPath: storage)
            }
            let joined = waitFor(seconds: 30) {
                (try? store.connection.execute("""
                    SELECT count(*) AS n FROM keyfarm.workers WHERE name LIKE $1 AND state = 'ready'
                    """, ["bench-\(run)-%"]).rows[0].decode("n", as: Int.self)) == workers ? true : nil
            }
            guard joined != nil else { throw CommandFailure("the workers did not all connect within 30 s", status: ExitStatus.failure) }
            progress("\(workers) workers connected to \(bound)")

            // Latency: one job at a time on idle workers.
            // "Ready" is when the submit's commit returned (the job is claimable from then on).
            let probeList = "bench-latency-\(run)"
            var readyAt: [Int64: Double] = [:]
            for probe in 0..<probes {
                let probeReceipt = try store.enqueueSmoke(name: probeList, project: "bench", count: 1, milliseconds: 0,
                                                          failRate: 0, priority: 50, maxAttempts: 1, replace: probe > 0)
                readyAt[probeReceipt.shotListID] = Date().timeIntervalSince1970
                guard waitFor(seconds: 10, poll: 0.0005, { try? succeeded(store, list: probeList) == 1 ? true : nil }) != nil else {
                    throw CommandFailure("a probe job did not finish within 10 s", status: ExitStatus.failure)
                }
            }
            let latencies = try store.connection.execute("""
                SELECT j.shot_list_id, EXTRACT(EPOCH FROM a.received_at)::float8 AS received
                FROM keyfarm.attempts a JOIN keyfarm.jobs j ON j.id = a.job_id JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
                WHERE l.name = $1 AND a.received_at IS NOT NULL
                """, [probeList]).rows.compactMap { row -> Double? in
                guard let ready = readyAt[try row.decode("shot_list_id", as: Int64.self)] else { return nil }
                return max(0, (try row.decode("received", as: Double.self) - ready) * 1000)
            }.sorted()
            progress("latency: \(latencies.count) probes")

            // Throughput: every job queued at once.
            let throughputList = "bench-throughput-\(run)"
            let receipt = try store.enqueueSmoke(name: throughputList, project: "bench", count: jobs, milliseconds: 0,
                                                 failRate: 0, priority: 50, maxAttempts: 3, replace: false)
            var lastReport = ContinuousClock.now
            // Polled gently: the figure comes from the database's own timestamps, not from this loop.
            let done = waitFor(seconds: 600, poll: 0.25) { () -> Bool? in
                guard let count = try? succeeded(store, list: throughputList) else { return nil }
                if ContinuousClock.now - lastReport > .seconds(2) {
                    lastReport = ContinuousClock.now
                    progress("throughput: \(count)/\(jobs) succeeded")
                }
                return count == jobs ? true : nil
            }
            guard done != nil else { throw CommandFailure("the jobs did not finish within 600 s", status: ExitStatus.failure) }
            let span = try store.connection.execute("""
                SELECT EXTRACT(EPOCH FROM (max(finished_at) - min(queued_at))) AS seconds FROM keyfarm.jobs WHERE shot_list_id = $1
                """, [receipt.shotListID]).rows[0].decode("seconds", as: Double.self)
            let figures = Figures(jobs_per_s: (Double(jobs) / max(span, 1e-6)).rounded(),
                                  p50_ms: percentile(latencies, 0.50), p99_ms: percentile(latencies, 0.99),
                                  jobs: jobs, workers: workers)
            if json {
                Console.current.print(String(decoding: try jsonEncoder(pretty: false).encode(figures), as: UTF8.self))
            } else {
                var table = TextTable(["FIGURE", "VALUE"], rightAligned: [1])
                table.add(["jobs", "\(jobs)"])
                table.add(["workers x slots", "\(workers) x \(slots)"])
                table.add(["throughput (jobs/s, queued to recorded)", String(format: "%.0f", figures.jobs_per_s)])
                table.add(["dispatch latency p50 (ms, idle workers)", String(format: "%.2f", figures.p50_ms)])
                table.add(["dispatch latency p99 (ms, idle workers)", String(format: "%.2f", figures.p99_ms)])
                Console.current.write(table.render() + "\n")
            }
        }
    }

    private func progress(_ line: String) {
        if !json { Console.current.printError("bench: " + line) }
    }

    private func succeeded(_ store: FarmStore, list: String) throws -> Int {
        try store.connection.execute("""
            SELECT count(*) AS n FROM keyfarm.jobs j
            WHERE j.shot_list_id = (SELECT id FROM keyfarm.shot_lists WHERE name = $1 AND state = 'active')
              AND j.state = 'succeeded'
            """, [list]).rows[0].decode("n", as: Int.self)
    }

    /// The conninfo of the store's own database (the embedded cluster's or the given one).
    private func currentConninfo(_ store: FarmStore) throws -> String {
        let row = try store.connection.execute("""
            SELECT current_database() AS db, current_user AS usr, COALESCE(inet_server_port(), 0) AS port,
                   current_setting('unix_socket_directories') AS sockets
            """).rows[0]
        if let explicit = database.databaseURL ?? CommandEnvironment.current["KEYFARM_DATABASE_URL"], !explicit.isEmpty {
            return explicit
        }
        let socketDirectory = (try row.decode("sockets", as: String.self)).split(separator: ",").first.map(String.init) ?? ""
        let port = try row.decode("port", as: Int.self)
        return PostgresConninfo.make(["host": socketDirectory, "port": port == 0 ? "5432" : String(port),
                                      "dbname": try row.decode("db"), "user": try row.decode("usr")])
    }
}

/// Polls `condition` until it returns a value, for at most `seconds`.
func waitFor<T>(seconds: Double = 30, poll: Double = 0.01, _ condition: () -> T?) -> T? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let value = condition() { return value }
        Thread.sleep(forTimeInterval: poll)
    }
    return condition()
}

/// The q-quantile (0...1) of sorted values, by nearest rank; 0 for none.
func percentile(_ sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
    return (sorted[min(max(rank, 0), sorted.count - 1)] * 100).rounded() / 100
}
