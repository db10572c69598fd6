import Foundation
import KeyfarmCoordinator
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmProcess
import KeyfarmStore
import KeyfarmWire
import KeyfarmWorker
import Logging
import Synchronization

/// `keyfarm bench dispatch`'s run: a coordinator and workers in this process, each on a
/// reactor thread of its own, over real ZeroMQ on loopback and the real database; first the
/// latency of single jobs on idle workers, then the throughput of many queued at once.
public struct DispatchBench {
    /// What the run measured.
    public struct Figures: Encodable, Sendable {
        public var jobs_per_s: Double
        public var p50_ms: Double
        public var p99_ms: Double
        public var jobs: Int
        public var workers: Int
    }

    public var jobs: Int
    public var workers: Int
    public var slots: Int
    public var probes: Int
    /// The software version the workers report.
    public var version: String

    public init(jobs: Int, workers: Int, slots: Int, probes: Int, version: String) {
        self.jobs = jobs
        self.workers = workers
        self.slots = slots
        self.probes = probes
        self.version = version
    }

    /// Runs the benchmark on `store`'s database (`conninfo` reaches the same one); progress
    /// lines go to `report`.
    public func run(store: FarmStore, conninfo: String, logger: Logger, report: (String) -> Void) throws -> Figures {
        let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        // Every worker holds its DEALER, its engine socket and one per slot: more than libzmq's
        // default of 1,023 sockets a context once there are a couple of hundred workers.
        DescriptorLimit.raiseToHardLimit()
        let context = try ZMQContext(ioThreads: 1, maxSockets: workers * (slots + 4) + 64)
        defer { context.terminate(waitingAtMost: .seconds(2)) }

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
                                                  store: store, logger: logger, context: context)
                try coordinator.run(until: coordinatorStop, onReady: { endpoint.withLock { $0 = coordinator.endpoint } })
            } catch {
                coordinatorError.withLock { $0 = "\(error)" }
            }
        }
        guard let bound = waitFor({ endpoint.withLock { $0 } ?? coordinatorError.withLock { $0.map { _ in "" } } }),
              !bound.isEmpty else {
            throw HarnessFailure("the coordinator did not start: \(coordinatorError.withLock { $0 } ?? "timeout")",
                                 status: HarnessFailure.failure)
        }

        // The workers, each on its own reactor thread.
        let workerStops = (0..<workers).map { _ in StopSignal() }
        let workersDone = DispatchGroup()
        let storage = NSTemporaryDirectory() + "keyfarm-bench-\(run)"
        for index in 0..<workers {
            let stop = workerStops[index]
            workersDone.enter()
            Thread.detachNewThread { [slots, version] in
                defer { workersDone.leave() }
                let configuration = WorkerConfiguration(connect: bound, name: "bench-\(run)-\(index)", slots: slots,
                                                        engines: ["smoke"], storage: storage, version: version)
                guard let worker = try? Worker(configuration: configuration, engines: ["smoke": SmokeEngine()], logger: logger,
                                               notifier: SystemdNotifier(environment: [:]), context: context) else { return }
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
        guard joined != nil else { throw HarnessFailure("the workers did not all connect within 30 s", status: HarnessFailure.failure) }
        report("\(workers) workers connected to \(bound)")

        // Latency: one job at a time on idle workers.
        // "Ready" is when the submit's commit returned (the job is claimable from then on).
        let probeList = "bench-latency-\(run)"
        var readyAt: [Int64: Double] = [:]
        for probe in 0..<probes {
            let probeReceipt = try store.enqueueSmoke(name: probeList, project: "bench", count: 1, milliseconds: 0,
                                                      failRate: 0, priority: 50, maxAttempts: 1, replace: probe > 0)
            readyAt[probeReceipt.shotListID] = Date().timeIntervalSince1970
            guard waitFor(seconds: 10, poll: 0.0005, { try? Self.succeeded(store, list: probeList) == 1 ? true : nil }) != nil else {
                throw HarnessFailure("a probe job did not finish within 10 s", status: HarnessFailure.failure)
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
        report("latency: \(latencies.count) probes")

        // Throughput: every job queued at once.
        let rate = try Self.throughput(store: store, list: "bench-throughput-\(run)", jobs: jobs, report: report)
        return DispatchBench.Figures(jobs_per_s: rate, p50_ms: percentile(latencies, 0.50), p99_ms: percentile(latencies, 0.99),
                                     jobs: jobs, workers: workers)
    }

    /// Queues `jobs` no-op smoke jobs at once as shot list `list` and waits (up to 600 s) for all
    /// of them to succeed; returns jobs per second from the first queued to the last finished,
    /// by the database's own timestamps.
    static func throughput(store: FarmStore, list: String, jobs: Int, report: (String) -> Void) throws -> Double {
        let receipt = try store.enqueueSmoke(name: list, project: "bench", count: jobs, milliseconds: 0,
                                             failRate: 0, priority: 50, maxAttempts: 3, replace: false)
        // The planner's statistics, as autovacuum would bring them up to date within a minute of
        // so large an insert: without them the claim plans for the empty table of a fresh
        // database and runs at half speed. Its time counts against the figure.
        do {
            try store.connection.execute("ANALYZE keyfarm.jobs")
        } catch let error as PostgresError where error.sqlState == "42501" {
            report("cannot ANALYZE keyfarm.jobs (\(error.message)); the figure may reflect stale statistics")
        }
        var lastReport = ContinuousClock.now
        // Polled gently: the figure comes from the database's own timestamps, not from this loop.
        let done = waitFor(seconds: 600, poll: 0.25) { () -> Bool? in
            guard let count = try? succeeded(store, list: list) else { return nil }
            if ContinuousClock.now - lastReport > .seconds(2) {
                lastReport = ContinuousClock.now
                report("throughput: \(count)/\(jobs) succeeded")
            }
            return count == jobs ? true : nil
        }
        guard done != nil else { throw HarnessFailure("the jobs did not finish within 600 s", status: HarnessFailure.failure) }
        let span = try store.connection.execute("""
            SELECT EXTRACT(EPOCH FROM (max(finished_at) - min(queued_at))) AS seconds FROM keyfarm.jobs WHERE shot_list_id = $1
            """, [receipt.shotListID]).rows[0].decode("seconds", as: Double.self)
        return (Double(jobs) / max(span, 1e-6)).rounded()
    }

    static func succeeded(_ store: FarmStore, list: String) throws -> Int {
        try store.connection.execute("""
            SELECT count(*) AS n FROM keyfarm.jobs j
            WHERE j.shot_list_id = (SELECT id FROM keyfarm.shot_lists WHERE name = $1 AND state = 'active')
              AND j.state = 'succeeded'
            """, [list]).rows[0].decode("n", as: Int.self)
    }
}

/// Polls `condition` until it returns a value, for at most `seconds`.
public func waitFor<T>(seconds: Double = 30, poll: Double = 0.01, _ condition: () -> T?) -> T? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let value = condition() { return value }
        Thread.sleep(forTimeInterval: poll)
    }
    return condition()
}

/// The q-quantile (0...1) of sorted values, by nearest rank; 0 for none.
public func percentile(_ sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
    return (sorted[min(max(rank, 0), sorted.count - 1)] * 100).rounded() / 100
}
