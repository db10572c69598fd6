import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmFakeProvider
import KeyfarmHarness
import KeyfarmProcess
import KeyfarmStore
import Logging

/// `keyfarm demo`: the whole farm on this machine, rendering the example shot list.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a whole farm on this machine and render a shot list (examples/demo.yaml) end to end.",
        discussion: """
            Starts, on loopback only: the fake provider (keyfarm fake-provider, speaking Luma's, \
            fal's and WaveSpeed's APIs, so no provider keys are needed), a coordinator, and \
            --workers workers offering interpolate, stitch and every provider engine. It submits \
            the shot list (replacing an earlier run of it), shows live progress, and ends by \
            printing every stitched deliverable with its path and frame count and the credits \
            spent. The first render renders everything (it never reuses an earlier run's work).

            Then, unless --no-revision, it plays a director's revision: it rewords the prompt of one \
            keyframe (in the provider shot with the most keyframes, the fourth from its end), submits \
            the edited list as the next revision, and prints what was reused, what rendered and what \
            the revision cost beside the first render. The daemons are stopped at the end; their logs \
            stay in DIR/logs.

            The database is --database-url, else $KEYFARM_DATABASE_URL, else the embedded private \
            PostgreSQL cluster. Storage (segments and deliverables) is DIR/storage.

            Exit status: 0 when every shot was stitched; 1 when a job failed for good, a daemon \
            died, or --timeout passed; 65 for an invalid shot list; 66 when it does not exist.
            """)

    @Argument(help: ArgumentHelp("The shot list to render.", valueName: "file"))
    var file: String = "examples/demo.yaml"

    @Option(help: ArgumentHelp("The demo's folder: storage, the fake provider's files, daemon logs.", valueName: "dir"))
    var directory: String = ".keyfarm-demo"

    @Option(help: ArgumentHelp("Workers to start.", valueName: "count"))
    var workers: Int = 2

    @Option(help: ArgumentHelp("Jobs each worker runs at once.", valueName: "count"))
    var slots: Int = 2

    @Option(help: ArgumentHelp("Give up after this many seconds.", valueName: "seconds"))
    var timeout: Double = 900

    @Option(name: .customLong("encode-preset"), help: ArgumentHelp(
        "The workers' x264 preset for stitched MP4s (see `keyfarm worker --help`): ultrafast renders fastest.",
        valueName: "preset"))
    var encodePreset: String = "medium"

    @Flag(help: "End with the outputs and credits as JSON (progress still goes to standard error).")
    var json = false

    @Flag(help: "Stop after the first render, without the revision that rewords one prompt.")
    var noRevision = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (1...16).contains(workers) else { throw ValidationError("--workers must be between 1 and 16") }
        guard (1...64).contains(slots) else { throw ValidationError("--slots must be between 1 and 64") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard WorkerCommand.encodePresets.contains(encodePreset) else {
            throw ValidationError("--encode-preset: \(encodePreset.debugDescription) is not an x264 preset (use one of \(WorkerCommand.encodePresets.joined(separator: ", ")))")
        }
    }

    func run() throws {
        try reportingFailures {
            let logger = try common.logger()
            let console = Console.current
            // Validate before anything starts: an invalid list changes nothing.
            let loaded = try ShotListFile.load(file)
            let root = URL(fileURLWithPath: directory).standardizedFileURL.path
            let storage = root + "/storage", logs = root + "/logs"
            for folder in [storage, logs, root + "/fake"] {
                do {
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                } catch {
                    throw CommandFailure("\(folder): cannot create: \(error.localizedDescription)", status: ExitStatus.failure)
                }
            }
            let database = try self.database.resolve(logger: logger)
            let store = try self.database.openStore(database, logger: logger)
            let executable = (try? ownExecutable()) ?? CommandLine.arguments[0]

            var environment = CommandEnvironment.current
            environment["KEYFARM_DATABASE_URL"] = database.conninfo
            environment["KEYFARM_LOG_LEVEL"] = environment["KEYFARM_LOG_LEVEL"] ?? "info"
            var daemons: [BackgroundProcess] = []
            defer {
                // Workers first (they say goodbye to the coordinator), then the rest.
                for daemon in daemons.reversed() { daemon.stop(timeout: 15) }
            }
            @discardableResult
            func start(_ name: String, _ arguments: [String], environment: [String: String]) throws -> BackgroundProcess {
                let log = logs + "/\(name).log"
                try? Data("--- keyfarm demo, \(ISO8601DateFormatter().string(from: Date()))\n".utf8).write(to: URL(fileURLWithPath: log))
                let daemon = try BackgroundProcess(name: name, executable: executable, arguments: arguments,
                                                   environment: environment, logPath: log)
                daemons.append(daemon)
                return daemon
            }

            let fakePort = try LoopbackPort.unused()
            try start("fake-provider", ["fake-provider", "--listen", "127.0.0.1:\(fakePort)", "--directory", root + "/fake",
                                        "--step-ms", "300"], environment: environment)
            try LocalFarm.waitForListener(port: fakePort, daemon: daemons[0])
            let fakeURL = "http://127.0.0.1:\(fakePort)"
            console.printError("demo: fake provider on \(fakeURL)")

            let coordinatorPort = try LoopbackPort.unused()
            let endpoint = "tcp://127.0.0.1:\(coordinatorPort)"
            try start("coordinator", ["coordinator", "--bind", endpoint], environment: environment)
            console.printError("demo: coordinator on \(endpoint)")

            let workerEnvironment = LocalFarm.workerEnvironment(environment, fakeURL: fakeURL)
            for index in 1...workers {
                try start("worker-\(index)", LocalFarm.workerArguments(endpoint: endpoint, name: "demo-worker-\(index)", slots: slots,
                                                                  storage: storage, artifactPort: try LoopbackPort.unused(),
                                                                  encodePreset: encodePreset),
                          environment: workerEnvironment)
            }
            console.printError("demo: \(workers) worker(s) with \(slots) slot(s) each, storage \(storage)")

            let prices = try store.priceTable()
            let plan = Planner(prices: prices).plan(loaded.list)
            let absolutePath = URL(fileURLWithPath: loaded.path).standardizedFileURL.path
            // The first render renders everything, whatever an earlier demo run left behind.
            let receipt = try store.submit(plan, sourcePath: absolutePath, sourceText: loaded.text, replace: true, reuse: false)
            console.printError("demo: submitted \(PlanPresentation.summary(plan)) as id \(receipt.shotListID), revision \(receipt.revision)")

            /// Shows the list's progress until it ends; returns its last state and how long it took.
            func follow(_ receipt: SubmitReceipt) throws -> (detail: ShotListDetail, seconds: Double) {
                let started = Date()
                let live = isatty(2) == 1
                var detail = try store.shotListDetail(name: receipt.name, project: receipt.project)
                var lastCounts = "", lastPrinted = Date.distantPast
                while true {
                    detail = try store.shotListDetail(name: receipt.name, project: receipt.project)
                    let line = Self.progressLine(detail, elapsed: Date().timeIntervalSince(started))
                    // On a terminal the line is redrawn in place; otherwise a line when the counts
                    // change, and every 10 s while they do not.
                    let counts = String(line.drop { $0 != "%" })
                    if live {
                        console.writeError("\r\u{1B}[K" + line)
                    } else if counts != lastCounts || Date().timeIntervalSince(lastPrinted) >= 10 {
                        console.printError(line)
                        lastPrinted = Date()
                    }
                    lastCounts = counts
                    if ["succeeded", "failed", "cancelled", "replaced"].contains(detail.list.state) { break }
                    if let dead = daemons.first(where: { !$0.isRunning }) {
                        if live { console.writeError("\n") }
                        throw CommandFailure("demo: \(dead.name) exited (status \(dead.poll() ?? -1)); the end of \(dead.logPath):\n\(dead.logTail())", status: ExitStatus.failure)
                    }
                    guard Date().timeIntervalSince(started) < timeout else {
                        if live { console.writeError("\n") }
                        throw CommandFailure("demo: not finished after \(Int(timeout)) s (\(detail.list.state)); logs in \(logs)", status: ExitStatus.failure)
                    }
                    usleep(live ? 250_000 : 1_000_000)
                }
                if live { console.writeError("\n") }
                for shot in detail.shots where shot.failure != nil {
                    console.printError("demo: \(shot.key) failed: \(shot.failure!)")
                }
                guard detail.list.state == "succeeded" else {
                    throw CommandFailure("demo: the shot list ended \(detail.list.state); see keyfarm status \(receipt.name) --project \(receipt.project)", status: ExitStatus.failure)
                }
                return (detail, Date().timeIntervalSince(started))
            }

            let (detail, elapsed) = try follow(receipt)
            let spent = Self.creditsByProvider(detail)
            if !json {
                console.write(OutputsCommand.render(detail, storage: .at(storage)))
                let byProvider = spent.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                console.print("credits spent: \(detail.list.spentCredits)" + (byProvider.isEmpty ? "" : " (\(byProvider))")
                    + "; rendered in \(String(format: "%.1f", elapsed)) s; logs in \(logs)")
            }

            // A director's revision: one keyframe's prompt reworded, the list submitted again.
            // Only the generation that prompt belongs to (and those continuing from its last
            // frame) render; everything else is reused, and the changed shot is restitched.
            var revision: Summary.Revision?
            if !noRevision, let edit = DemoRevision(loaded.list) {
                let revisionPlan = Planner(prices: prices).plan(edit.list)
                let note = "\n# keyfarm demo revision: \(edit.description)\n"
                let second = try store.submit(revisionPlan, sourcePath: absolutePath,
                                              sourceText: loaded.text + note, replace: true, reuse: true)
                console.printError("demo: revision \(second.revision) rewords \(edit.description); "
                                   + "\(second.reused.count) of \(second.jobs) jobs reused, the rest estimated at \(second.estimatedCredits) credits")
                let (revised, revisionSeconds) = try follow(second)
                let history = try store.revisions(name: second.name, project: second.project)
                    .first { $0.shotListID == second.shotListID }
                revision = Summary.Revision(edit: edit.description, revision: second.revision,
                                            reused_jobs: history?.jobsReused ?? 0, rendered_jobs: history?.jobsRendered ?? 0,
                                            jobs: second.jobs, changed_shots: history?.changedShots ?? [],
                                            spent_credits: revised.list.spentCredits,
                                            seconds: (revisionSeconds * 10).rounded() / 10)
                if !json, let revision {
                    console.print("revision \(revision.revision) (\(edit.description)): reused \(revision.reused_jobs) of "
                        + "\(revision.jobs) jobs, rendered \(revision.rendered_jobs) segment job(s), restitched "
                        + revision.changed_shots.joined(separator: ", ") + "; it cost \(revision.spent_credits) credits "
                        + "(the first render cost \(detail.list.spentCredits)); done in \(String(format: "%.1f", revisionSeconds)) s")
                    console.print("history: keyfarm history \(second.name) --project \(second.project)")
                }
            }
            if json {
                var summary = Summary(detail, storage: storage, seconds: elapsed, credits: spent)
                summary.revision = revision
                try printJSON(summary)
            }
        }
    }

    /// `[ 12.4 s]  45%  segments 12/25 done, 3 running  stitched 1/3  credits 120`
    static func progressLine(_ detail: ShotListDetail, elapsed: Double) -> String {
        let segments = detail.jobs.filter { $0.kind == "segment" }
        let stitches = detail.jobs.filter { $0.kind == "stitch" }
        let running = detail.jobs.filter { ["leased", "running"].contains($0.state) }.count
        let failed = detail.jobs.filter { $0.state == "failed" }.count
        let retrying = detail.jobs.filter { $0.state == "retry_wait" }.count
        var line = String(format: "[%6.1f s] %3d%%", elapsed, Int((detail.list.progress * 100).rounded(.down)))
        line += "  segments \(segments.filter { $0.state == "succeeded" }.count)/\(segments.count) done"
        line += ", \(running) running" + (retrying > 0 ? ", \(retrying) to retry" : "") + (failed > 0 ? ", \(failed) failed" : "")
        line += "  stitched \(stitches.filter { $0.state == "succeeded" }.count)/\(stitches.count)"
        line += "  credits \(detail.list.spentCredits)"
        return line
    }

    /// Net credits per provider from the list's jobs, largest first.
    static func creditsByProvider(_ detail: ShotListDetail) -> [(key: String, value: Int64)] {
        var totals: [String: Int64] = [:]
        for job in detail.jobs where job.spentCredits != 0 {
            totals[job.engine?.split(separator: "/").first.map(String.init) ?? "-", default: 0] += job.spentCredits
        }
        return totals.sorted { $0.value == $1.value ? $0.key < $1.key : $0.value > $1.value }
    }

    struct Summary: Encodable {
        var shot_list: String
        var project: String
        var state: String
        var seconds: Double
        var spent_credits: Int64
        var credits_by_provider: [String: Int64]
        var outputs: OutputsCommand.Document
        /// The demo's revision of the list: what it edited, reused, rendered and cost.
        var revision: Revision?

        struct Revision: Encodable {
            var edit: String
            var revision: Int
            var reused_jobs: Int
            var rendered_jobs: Int
            var jobs: Int
            var changed_shots: [String]
            var spent_credits: Int64
            var seconds: Double
        }

        init(_ detail: ShotListDetail, storage: String, seconds: Double, credits: [(key: String, value: Int64)]) {
            shot_list = detail.list.name
            project = detail.list.project
            state = detail.list.state
            self.seconds = (seconds * 10).rounded() / 10
            spent_credits = detail.list.spentCredits
            credits_by_provider = Dictionary(uniqueKeysWithValues: credits.map { ($0.key, $0.value) })
            outputs = OutputsCommand.Document(detail, storage: .at(storage))
        }
    }
}
