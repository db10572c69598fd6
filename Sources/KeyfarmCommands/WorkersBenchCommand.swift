import ArgumentParser
import Foundation
import KeyfarmHarness
import KeyfarmProcess
import KeyfarmWire

/// `keyfarm bench workers`: how many workers one coordinator carries.
struct WorkersBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers",
        abstract: "Run a real coordinator against many simulated workers and measure what they cost it.",
        discussion: """
            Starts `keyfarm coordinator` as a process of its own on 127.0.0.1 against the database \
            (--database-url, $KEYFARM_DATABASE_URL or the embedded cluster; it must lead, so give the \
            bench a database no other coordinator leads), then --workers simulated workers from a few \
            processes (`keyfarm bench swarm`, one per 2,500 workers unless --processes says otherwise, \
            and one more holding the --kill workers). Each simulated worker speaks the real worker \
            protocol on a DEALER socket of its own, with --slots slots, heartbeating once a second; \
            only its smoke jobs are simulated (they end without a thread of their own).

            Phases: every worker connects and is welcomed; for --seconds they only heartbeat (each \
            heartbeat pings, the coordinator answers at once), while the coordinator's CPU time is \
            read from /proc and the round trips are collected; --jobs no-op smoke jobs are queued \
            at once and timed from queued to the last recorded success; then the --kill workers' \
            process is SIGKILLed and the time until the database shows them all lost is taken \
            (the liveness window is 3 heartbeats, 3 s).

            The soft limit on open files is raised to the hard limit (each worker costs the \
            coordinator one descriptor and the swarm two), as LimitNOFILE= does for the units.

            Prints a table, or with --json one line with "workers", "coordinator_cpu_cores" (while \
            idle-heartbeating, as a fraction of one core), "database_cpu_cores" (its database \
            session's server process, null when not readable here), "swarm_cpu_cores", \
            "heartbeat_rtt_p50_ms", "heartbeat_rtt_p99_ms", "heartbeats_per_s", "jobs_per_s", \
            "loss_detect_s", "connect_s", "jobs", "killed", "seconds" and "processes". The \
            workers' rows stay in the database (nothing deletes workers), as `keyfarm bench dispatch`'s do.
            """)

    @Option(help: ArgumentHelp("Simulated workers in all, those killed included.", valueName: "count"))
    var workers: Int = 1_000
    @Option(help: ArgumentHelp("Seconds of idle heartbeating measured.", valueName: "seconds"))
    var seconds: Double = 10
    @Option(help: ArgumentHelp("No-op jobs in the dispatch phase.", valueName: "count"))
    var jobs: Int = 20_000
    @Option(help: ArgumentHelp("Workers killed at once in the loss phase (default: 100, or half of --workers if fewer).",
                               valueName: "count"))
    var kill: Int?
    @Option(help: ArgumentHelp("Processes for the workers not killed (default: one per 2,500).", valueName: "count"))
    var processes: Int?
    @Option(help: ArgumentHelp("Slots per worker.", valueName: "count"))
    var slots: Int = 4
    @Flag(help: "Print one JSON line instead of a table.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    var killed: Int { kill ?? min(100, workers / 2) }

    func validate() throws {
        guard (2...100_000).contains(workers) else { throw ValidationError("--workers must be between 2 and 100000") }
        guard seconds >= 2 && seconds <= 3_600 else { throw ValidationError("--seconds must be between 2 and 3600") }
        guard (1...10_000_000).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 10000000") }
        guard (1..<workers).contains(killed) else {
            throw ValidationError("--kill must be at least 1 and fewer than --workers (\(workers))")
        }
        if let processes, !(1...64).contains(processes) { throw ValidationError("--processes must be between 1 and 64") }
        guard (1...256).contains(slots) else { throw ValidationError("--slots must be between 1 and 256") }
    }

    func run() throws {
        try reportingFailures {
            var configured = try common.logger()
            configured.logLevel = max(configured.logLevel, .warning)
            let store = try database.openStore(logger: configured)
            let bench = WorkerScaleBench(workers: workers, seconds: seconds, jobs: jobs, kill: killed,
                                         processes: processes ?? WorkerScaleBench.defaultProcesses(workers: workers - killed),
                                         slots: slots, executable: try ownExecutable())
            let figures = try bench.run(store: store, conninfo: try database.currentConninfo(store), report: progress)
            if json {
                Console.current.print(String(decoding: try jsonEncoder(pretty: false).encode(figures), as: UTF8.self))
                return
            }
            var table = TextTable(["FIGURE", "VALUE"], rightAligned: [1])
            table.add(["workers (x slots)", "\(figures.workers) x \(slots)"])
            table.add(["connect: all welcomed after (s)", String(format: "%.1f", figures.connect_s)])
            table.add(["coordinator CPU, idle heartbeating (cores)", String(format: "%.3f", figures.coordinator_cpu_cores)])
            table.add(["its database backend CPU (cores)", figures.database_cpu_cores.map { String(format: "%.3f", $0) } ?? "n/a"])
            table.add(["simulated workers' CPU (cores, \(figures.processes) processes)", String(format: "%.3f", figures.swarm_cpu_cores)])
            table.add(["heartbeat round trips per second", String(format: "%.0f", figures.heartbeats_per_s)])
            table.add(["heartbeat round trip p50 (ms)", String(format: "%.2f", figures.heartbeat_rtt_p50_ms)])
            table.add(["heartbeat round trip p99 (ms)", String(format: "%.2f", figures.heartbeat_rtt_p99_ms)])
            table.add(["dispatch (jobs/s, \(figures.jobs) jobs)", String(format: "%.0f", figures.jobs_per_s)])
            table.add(["loss of \(figures.killed) killed at once detected after (s)", String(format: "%.2f", figures.loss_detect_s)])
            Console.current.write(table.render() + "\n")
        }
    }

    private func progress(_ line: String) {
        if !json { Console.current.printError("bench: " + line) }
    }
}

/// `keyfarm bench swarm`: one process of simulated workers for `keyfarm bench workers`.
struct SwarmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swarm",
        abstract: "Run simulated workers for `keyfarm bench workers` (started by it).",
        discussion: """
            Runs --workers simulated workers named <prefix>-<n> against the coordinator at --connect, \
            each on a DEALER socket of its own speaking the real worker protocol, and pushes a JSON \
            report to --report once a second. SIGTERM or SIGINT stops it; its connections then close \
            as a killed process's would.
            """,
        shouldDisplay: false)

    @Option(help: ArgumentHelp("The coordinator's endpoint.", valueName: "endpoint"))
    var connect: String
    @Option(help: ArgumentHelp("Where to push the reports (a PULL socket's endpoint).", valueName: "endpoint"))
    var report: String
    @Option(help: ArgumentHelp("Simulated workers.", valueName: "count"))
    var workers: Int
    @Option(name: .customLong("name-prefix"), help: ArgumentHelp("Workers are named <prefix>-<n>.", valueName: "prefix"))
    var namePrefix: String
    @Option(help: ArgumentHelp("Slots per worker.", valueName: "count"))
    var slots: Int = 4
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (1...50_000).contains(workers) else { throw ValidationError("--workers must be between 1 and 50000") }
        guard (1...256).contains(slots) else { throw ValidationError("--slots must be between 1 and 256") }
        guard !namePrefix.isEmpty else { throw ValidationError("--name-prefix must not be empty") }
    }

    func run() throws {
        try reportingFailures {
            _ = try common.logger()
            DescriptorLimit.raiseToHardLimit()
            var settings = WorkerSwarm.Settings(endpoint: connect, reportEndpoint: report, workers: workers,
                                                namePrefix: namePrefix, version: KeyfarmCommand.version)
            settings.slots = slots
            let stop = StopSignal()
            stop.installAsHandler()
            try WorkerSwarm(settings: settings).run(until: stop)
        }
    }
}
