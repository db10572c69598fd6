import Foundation
import KeyfarmCommands
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmTestSupport
import Logging

/// A farm of real processes for one test: a fresh database, a coordinator on a free loopback
/// port, and workers, all run from the built `keyfarm` binary and killed for real.
final class Farm {
    let database: String
    let endpoint: String
    let binary: String
    let store: FarmStore
    var coordinator: TestDaemon?
    var workers: [String: TestDaemon] = [:]
    let environment: [String: String]

    static let heartbeatMilliseconds = 200
    static let liveness = 4

    /// A farm on a fresh database of the test server, or on `database` (a cluster of the test's own).
    init(database: String? = nil) throws {
        self.database = try database ?? TestPostgres.freshDatabase()
        var logger = Logger(label: "keyfarm.dispatch-tests")
        logger.logLevel = .warning
        store = try FarmStore(conninfo: self.database, logger: logger)
        try store.migrate()
        endpoint = "tcp://127.0.0.1:\(freeLoopbackPort())"
        binary = try builtKeyfarm()
        var environment = ProcessInfo.processInfo.environment
        environment["KEYFARM_DATABASE_URL"] = self.database
        environment["KEYFARM_LOG_LEVEL"] = "info"
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        self.environment = environment
    }

    deinit {
        for worker in workers.values { worker.killHard() }
        coordinator?.killHard()
    }

    /// Starts the coordinator with the farm's heartbeats and `arguments` (timeouts, say) after them.
    @discardableResult
    func startCoordinator(_ extra: [String] = []) throws -> TestDaemon {
        let daemon = try TestDaemon(binary, ["coordinator", "--bind", endpoint, "--heartbeat-ms", "\(Farm.heartbeatMilliseconds)",
                                             "--liveness", "\(Farm.liveness)"] + extra, environment: environment)
        coordinator = daemon
        return daemon
    }

    @discardableResult
    func startWorker(_ name: String, slots: Int, _ extra: [String] = [], connect: String? = nil) throws -> TestDaemon {
        let daemon = try TestDaemon(binary, ["worker", "--connect", connect ?? endpoint, "--name", name, "--slots", "\(slots)",
                                             "--storage", "/tmp/kf-dispatch-storage", "--heartbeat-ms",
                                             "\(Farm.heartbeatMilliseconds)", "--encode-preset", "ultrafast"] + extra,
                                     environment: environment)
        workers[name] = daemon
        return daemon
    }

    func smoke(_ name: String, jobs: Int, ms: Int, failRate: Double = 0, maxAttempts: Int = 3) throws {
        _ = try store.enqueueSmoke(name: name, project: "test", count: jobs, milliseconds: ms, failRate: failRate,
                                   priority: 50, maxAttempts: maxAttempts, replace: false)
    }

    func count(_ sql: String, _ parameters: [any PostgresBindable] = []) throws -> Int {
        try store.connection.execute(sql, parameters).rows[0].decode("n", as: Int.self)
    }

    func succeeded(_ list: String) throws -> Int {
        try count("SELECT count(*) AS n FROM keyfarm.v_jobs WHERE shot_list = $1 AND state = 'succeeded'", [list])
    }

    func running(on worker: String) throws -> Int {
        try count("SELECT count(*) AS n FROM keyfarm.v_jobs WHERE worker = $1 AND state = 'running'", [worker])
    }

    /// Jobs with other than exactly one succeeded attempt (must be none once all succeeded).
    func jobsNotSucceededExactlyOnce(_ list: String) throws -> Int {
        try count("""
            SELECT count(*) AS n FROM (
                SELECT j.id FROM keyfarm.v_jobs j LEFT JOIN keyfarm.attempts a ON a.job_id = j.id AND a.outcome = 'succeeded'
                WHERE j.shot_list = $1 GROUP BY j.id HAVING count(a.id) <> 1) x
            """, [list])
    }

    /// Everything the daemons printed, for failure messages.
    var logs: String {
        ([("coordinator", coordinator)] + workers.map { ($0.key, Optional($0.value)) }).map { name, daemon in
            "--- \(name)\n" + (daemon?.log.suffix(3000).description ?? "")
        }.joined(separator: "\n")
    }
}

/// Runs `keyfarm` in-process against `database`, with its output captured.
func keyfarm(_ arguments: String..., database: String) -> (status: Int32, out: String, error: String) {
    let captured = CapturedConsole()
    var environment = ProcessInfo.processInfo.environment
    environment["KEYFARM_DATABASE_URL"] = database
    let status = KeyfarmCLI.run(arguments, console: captured.console, environment: environment)
    return (status, captured.out, captured.error)
}
