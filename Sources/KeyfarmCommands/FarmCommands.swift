import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmStore

/// `keyfarm smoke`: queues test jobs that exercise the whole farm.
struct SmokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smoke",
        abstract: "Queue smoke jobs that each take --ms on a worker, to test the farm end to end.",
        discussion: """
            Creates a shot list NAME of --jobs smoke jobs (workers offer the `smoke` capability by \
            default). Each waits --ms milliseconds and fails on its first --fail-attempts attempts, or \
            with probability --fail-rate (a transient error, so it is retried with back-off up to \
            --max-attempts). With --wait, shows progress and exits 0 only when every job succeeded \
            (1 when some failed for good, 75 on --timeout).
            """)

    @Option(help: ArgumentHelp("The shot list's name.", valueName: "name"))
    var name: String
    @Option(help: ArgumentHelp("How many jobs.", valueName: "count"))
    var jobs: Int = 10
    @Option(help: ArgumentHelp("How long each job takes on a worker, in milliseconds.", valueName: "ms"))
    var ms: Int = 100
    @Option(name: .customLong("fail-rate"), help: ArgumentHelp("The chance that an attempt fails (0 to 1).", valueName: "p"))
    var failRate: Double = 0
    @Option(name: .customLong("fail-attempts"), help: ArgumentHelp("Every job fails its first n attempts (0 to 10).", valueName: "n"))
    var failAttempts: Int = 0
    @Option(help: ArgumentHelp("The project.", valueName: "project"))
    var project: String = "smoke"
    @Option(help: ArgumentHelp("Priority, 0 to 100.", valueName: "n"))
    var priority: Int = 50
    @Option(name: .customLong("max-attempts"), help: ArgumentHelp("Attempts per job, 1 to 10.", valueName: "n"))
    var maxAttempts: Int = 3
    @Flag(help: "Replace a live shot list of the same name.")
    var replace = false
    @Flag(help: "Wait until every job finished, showing progress.")
    var wait = false
    @Option(help: ArgumentHelp("With --wait: give up after this many seconds.", valueName: "seconds"))
    var timeout: Double = 3600
    @Flag(help: "Print the outcome as JSON.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (1...1_000_000).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 1000000") }
        guard (0...86_400_000).contains(ms) else { throw ValidationError("--ms must be between 0 and 86400000") }
        guard (0...1).contains(failRate) else { throw ValidationError("--fail-rate must be between 0 and 1") }
        guard (0...10).contains(failAttempts) else { throw ValidationError("--fail-attempts must be between 0 and 10") }
        guard (0...100).contains(priority) else { throw ValidationError("--priority must be between 0 and 100") }
        guard (1...10).contains(maxAttempts) else { throw ValidationError("--max-attempts must be between 1 and 10") }
        guard ShotListDecoder.isListName(name) else { throw ValidationError("--name must match [a-z0-9][a-z0-9._-]{0,63}") }
        guard ShotListDecoder.isListName(project) else { throw ValidationError("--project must match [a-z0-9][a-z0-9._-]{0,63}") }
    }

    struct Outcome: Encodable {
        var id: Int64
        var shot_list: String
        var jobs: Int
        var succeeded: Int
        var failed: Int
        var state: String
        var seconds: Double
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let receipt = try store.enqueueSmoke(name: name, project: project, count: jobs, milliseconds: ms,
                                                 failRate: failRate, failAttempts: failAttempts, priority: priority,
                                                 maxAttempts: maxAttempts, replace: replace)
            let start = ContinuousClock.now
            guard wait else {
                if json {
                    try printJSON(Outcome(id: receipt.shotListID, shot_list: name, jobs: receipt.jobs, succeeded: 0, failed: 0,
                                          state: "queued", seconds: 0))
                } else {
                    Console.current.print("queued \(receipt.jobs) smoke jobs as shot list \(name) (id \(receipt.shotListID)); follow with: keyfarm status \(name) --project \(project)")
                }
                return
            }
            var last = ""
            while true {
                guard let list = try store.shotLists(name: name, project: project).first(where: { $0.id == receipt.shotListID }) else {
                    throw StoreError.noSuchShotList(name: name, project: project)
                }
                let elapsed = (ContinuousClock.now - start) / .seconds(1)
                let line = "\(name): \(list.jobsSucceeded)/\(list.jobsTotal) succeeded, \(list.jobsRunning) running, \(list.jobsFailed) failed"
                if line != last && !json { Console.current.printError(line); last = line }
                let finished = list.jobsSucceeded + list.jobsFailed + list.jobsCancelled
                if finished == list.jobsTotal || elapsed > timeout {
                    if json {
                        try printJSON(Outcome(id: list.id, shot_list: name, jobs: list.jobsTotal, succeeded: list.jobsSucceeded,
                                              failed: list.jobsFailed, state: list.state, seconds: elapsed))
                    } else {
                        Console.current.print("\(name): \(list.jobsSucceeded) of \(list.jobsTotal) succeeded in \(String(format: "%.1f", elapsed)) s")
                    }
                    if elapsed > timeout && finished < list.jobsTotal {
                        throw CommandFailure("timed out after \(Int(timeout)) s with \(list.jobsTotal - finished) jobs unfinished", status: 75)
                    }
                    if list.jobsSucceeded < list.jobsTotal {
                        throw CommandFailure("\(list.jobsFailed) job(s) failed; see keyfarm status \(name) --project \(project)",
                                             status: ExitStatus.failure)
                    }
                    return
                }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }
}

/// `keyfarm workers`: the farm's workers.
struct WorkersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers",
        abstract: "List the workers that ever connected: state, slots, running jobs, last seen, storage root, blocklisted shots.")

    @Flag(help: "Print JSON instead of a table.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    struct Document: Encodable {
        var workers: [Entry]
        struct Entry: Encodable {
            var name: String
            var host: String?
            var version: String?
            var state: String
            var draining: Bool
            var slots: Int
            var engines: [String]
            var running_jobs: Int
            var succeeded_attempts: Int
            var failed_attempts: Int
            var last_seen_at: Date?
            var blocklisted_shots: [String]
            /// Where the worker mounts the farm's storage, as its HELLO said.
            var storage_root: String?
        }
    }

    func run() throws {
        try reportingFailures {
            let workers = try database.openStore(logger: try common.logger()).workers()
            if json {
                try printJSON(Document(workers: workers.map {
                    .init(name: $0.name, host: $0.host, version: $0.version, state: $0.state, draining: $0.draining,
                          slots: $0.slots, engines: $0.engines, running_jobs: $0.runningJobs,
                          succeeded_attempts: $0.succeededAttempts, failed_attempts: $0.failedAttempts,
                          last_seen_at: $0.lastSeenAt, blocklisted_shots: $0.blocklistedShots, storage_root: $0.storageRoot)
                }))
                return
            }
            guard !workers.isEmpty else {
                Console.current.print("no workers yet; start one with: keyfarm worker --connect tcp://COORDINATOR:5555")
                return
            }
            var table = TextTable(["NAME", "HOST", "STATE", "SLOTS", "RUNNING", "DONE", "FAILED", "LAST SEEN", "ENGINES", "STORAGE",
                                   "BLOCKLISTED"], rightAligned: [3, 4, 5, 6])
            let formatter = ISO8601DateFormatter()
            for worker in workers {
                table.add([worker.name, worker.host ?? "-", worker.state + (worker.draining && worker.state != "draining" ? " (drained)" : ""),
                           "\(worker.slots)", "\(worker.runningJobs)", "\(worker.succeededAttempts)", "\(worker.failedAttempts)",
                           worker.lastSeenAt.map(formatter.string(from:)) ?? "-", worker.engines.joined(separator: ","),
                           worker.storageRoot ?? "-",
                           worker.blocklistedShots.isEmpty ? "-" : worker.blocklistedShots.joined(separator: ", ")])
            }
            Console.current.write(table.render() + "\n")
        }
    }
}

/// `keyfarm drain NAME`: no new work for a worker.
struct DrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Stop giving a worker new jobs; what it runs finishes. Undo with `keyfarm undrain`.")
    @Argument(help: ArgumentHelp("The worker's name.", valueName: "name"))
    var name: String
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingFailures { try setDrain(name: name, true, database: database, common: common) }
    }
}

/// `keyfarm undrain NAME`.
struct UndrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undrain", abstract: "Let a drained worker take new jobs again.")
    @Argument(help: ArgumentHelp("The worker's name.", valueName: "name"))
    var name: String
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingFailures { try setDrain(name: name, false, database: database, common: common) }
    }
}

private func setDrain(name: String, _ draining: Bool, database: DatabaseOptions, common: CommonOptions) throws {
    let store = try database.openStore(logger: try common.logger())
    guard try store.setDraining(workerName: name, draining) else {
        throw CommandFailure("no worker named \"\(name)\"; see keyfarm workers", status: ExitStatus.noInput)
    }
    Console.current.print(draining ? "worker \(name) is draining: it takes no new jobs; running ones finish"
                                   : "worker \(name) takes jobs again")
}

/// `keyfarm retry NAME [--job KEY]`: requeue failed jobs with fresh attempts.
struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Requeue a shot list's failed jobs (or one, with --job) with a fresh round of attempts.",
        discussion: """
            Jobs that failed because a dependency failed wait for it again. Attempt history stays \
            on record. A provider job whose earlier attempt submitted a request that did not fail at \
            the provider (its worker was lost, it timed out, polling failed) resumes that request \
            rather than paying for a new one; --fresh starts a new request instead, for a generation \
            stuck at the provider (the provider may still bill the abandoned one).
            """)
    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "name"))
    var name: String
    @Option(help: ArgumentHelp("One job, by its key (e.g. sh010/s1).", valueName: "key"))
    var job: String?
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?
    @Flag(help: "Start new provider requests instead of resuming those earlier attempts submitted.")
    var fresh = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let count = try store.retryFailed(name: name, project: project, jobKey: job, fresh: fresh)
            Console.current.print(count == 0 ? "shot list \(name) has no failed jobs to retry"
                                             : "requeued \(count) job\(count == 1 ? "" : "s") of \(name)"
                                                + (fresh ? ", with new provider requests" : ""))
        }
    }
}
