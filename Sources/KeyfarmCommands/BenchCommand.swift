import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmHarness
import KeyfarmPostgres
import KeyfarmStore
import Logging

/// `keyfarm bench`: benchmarks that print figures.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the farm's speed and the interpolation engine's quality.",
        subcommands: [DispatchBenchCommand.self, WorkersBenchCommand.self, InterpolateBenchCommand.self, StitchBenchCommand.self,
                      SwarmCommand.self])
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

    func run() throws {
        try reportingFailures {
            var configured = try common.logger()
            configured.logLevel = max(configured.logLevel, .warning)
            let logger = configured
            let store = try database.openStore(logger: logger)
            let bench = DispatchBench(jobs: jobs, workers: workers, slots: slots, probes: probes, version: KeyfarmCommand.version)
            let figures = try bench.run(store: store, conninfo: try database.currentConninfo(store), logger: logger, report: progress)
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
}

extension DatabaseOptions {
    /// The conninfo of the store's own database (the embedded cluster's or the given one).
    func currentConninfo(_ store: FarmStore) throws -> String {
        let row = try store.connection.execute("""
            SELECT current_database() AS db, current_user AS usr, COALESCE(inet_server_port(), 0) AS port,
                   current_setting('unix_socket_directories') AS sockets
            """).rows[0]
        if let explicit = databaseURL ?? CommandEnvironment.current["KEYFARM_DATABASE_URL"], !explicit.isEmpty {
            return explicit
        }
        let socketDirectory = (try row.decode("sockets", as: String.self)).split(separator: ",").first.map(String.init) ?? ""
        let port = try row.decode("port", as: Int.self)
        return PostgresConninfo.make(["host": socketDirectory, "port": port == 0 ? "5432" : String(port),
                                      "dbname": try row.decode("db"), "user": try row.decode("usr")])
    }
}
