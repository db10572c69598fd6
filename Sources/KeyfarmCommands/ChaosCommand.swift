import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmHarness
import KeyfarmMedia
import KeyfarmPostgres
import KeyfarmStore
import Logging

/// `keyfarm chaos`: renders shot lists on a farm of real processes while killing its parts,
/// then checks that nothing was lost, done twice or billed wrongly.
struct ChaosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Render shot lists on a local farm while killing its workers, its coordinator and PostgreSQL; check the outcome.",
        discussion: """
            Starts, in DIR and on loopback only: a private PostgreSQL cluster, the fake provider \
            answering 20% of API requests with a 5xx, 10% with 429 and failing 5% of the \
            generations it accepts (--error-rate, --rate-limit-rate, --fail-rate), a coordinator \
            and --workers workers. It submits --lists shot lists mixing local interpolation, \
            Luma (Dream Machine and Agents), Kling through fal, continuity keyframes and stitching, \
            half at once and the rest during the faults.

            For --duration seconds it then SIGKILLs a random worker every --kill-every seconds \
            (about; each is started again after a pause, as systemd would), SIGKILLs the \
            coordinator that leads twice (a quarter and seven tenths of the way; with \
            --coordinators 2 the standby takes over, and the killed one comes back as a \
            standby), and stops PostgreSQL \
            abruptly once, half way, starting it again a few seconds later. Daemons that exit \
            by themselves are restarted too. Then it waits (up to --settle seconds) for every list \
            to finish, and checks:

              every job succeeded, or failed with a reason (none lost);
              no job has more than one succeeded attempt (none completed twice);
              the generations the fake billed equal the generations the ledger charges;
              every stitched clip has the frames its shot planned (ffprobe counts them);
              no coordinator exited by itself (each must ride out the faults).

            It prints what it did and those figures, and ends with one JSON line: \
            {"jobs", "succeeded", "failed", "lost", "completed_twice", "billed_generations", \
            "ledger_charges", "clips", "clips_with_planned_frames", "takeovers", \
            "takeover_seconds"}: takeovers counts the kills of a leader after which a coordinator \
            took the lease at a later epoch, takeover_seconds is the longest time from such a kill \
            to the new lease (by the database's clock). DIR is emptied first (it must \
            be a chaos folder or empty); the daemons' logs stay in DIR/logs.

            Exit status: 0 when every check holds; 1 when one does not or the farm could not be run.
            """)

    @Option(help: ArgumentHelp("Seconds of faults.", valueName: "seconds"))
    var duration: Double = 120

    @Option(help: ArgumentHelp("Workers to run.", valueName: "count"))
    var workers: Int = 4

    @Option(help: ArgumentHelp("""
        Coordinators on the one database: 1, or 2 for a leader and a standby (the cluster then \
        runs durable, fsync and synchronous_commit on).
        """, valueName: "count"))
    var coordinators: Int = 1

    @Option(help: ArgumentHelp("Jobs each worker runs at once.", valueName: "count"))
    var slots: Int = 2

    @Option(help: ArgumentHelp("Shot lists to render (four shots each).", valueName: "count"))
    var lists: Int = 4

    @Option(name: .customLong("kill-every"), help: ArgumentHelp("Mean seconds between worker kills.", valueName: "seconds"))
    var killEvery: Double = 3

    @Option(name: .customLong("error-rate"), help: ArgumentHelp("Share of provider API requests answered 500, 502 or 503.", valueName: "p"))
    var errorRate: Double = 0.2

    @Option(name: .customLong("rate-limit-rate"), help: ArgumentHelp("Share of provider API requests answered 429 with Retry-After: 1.", valueName: "p"))
    var rateLimitRate: Double = 0.1

    @Option(name: .customLong("fail-rate"), help: ArgumentHelp("Share of accepted generations the fake then fails.", valueName: "p"))
    var failRate: Double = 0.05

    @Option(help: ArgumentHelp("After the faults, seconds to wait for every list to finish.", valueName: "seconds"))
    var settle: Double = 600

    @Option(help: ArgumentHelp("Seed for the kill schedule and the fake's faults (default: random, printed).", valueName: "n"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("The run's folder: PostgreSQL, storage, logs, the generated shot lists.", valueName: "dir"))
    var directory: String = ".keyfarm-chaos"

    @Option(help: ArgumentHelp("Folder of the keyframe images the shot lists use.", valueName: "dir"))
    var refs: String = "examples/refs"

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard duration > 0, duration <= 86_400 else { throw ValidationError("--duration must be between 0 and 86400 seconds") }
        guard (1...16).contains(workers) else { throw ValidationError("--workers must be between 1 and 16") }
        guard (1...2).contains(coordinators) else { throw ValidationError("--coordinators must be 1 or 2") }
        guard (1...64).contains(slots) else { throw ValidationError("--slots must be between 1 and 64") }
        guard (1...100).contains(lists) else { throw ValidationError("--lists must be between 1 and 100") }
        guard killEvery >= 0.5 else { throw ValidationError("--kill-every must be at least 0.5 seconds") }
        for (name, rate) in [("--error-rate", errorRate), ("--rate-limit-rate", rateLimitRate), ("--fail-rate", failRate)] {
            guard (0...1).contains(rate) else { throw ValidationError("\(name) must be between 0 and 1") }
        }
        guard errorRate + rateLimitRate <= 1 else { throw ValidationError("--error-rate and --rate-limit-rate together must be at most 1") }
        guard settle > 0 else { throw ValidationError("--settle must be positive") }
    }

    func run() throws {
        try reportingFailures {
            let logger = try common.logger()
            let seed = self.seed ?? UInt64.random(in: 0...999_999)
            let root = try Self.prepare(directory, logger: logger)
            let refs = URL(fileURLWithPath: self.refs).standardizedFileURL.path
            guard FileManager.default.fileExists(atPath: refs + "/sh010_a.png") else {
                throw CommandFailure("\(self.refs)/sh010_a.png: no such file; --refs names the folder of the example keyframes (examples/refs)",
                                     status: ExitStatus.noInput)
            }
            // Every list is validated before anything starts.
            var files: [ShotListFile] = []
            for index in 0..<lists {
                let path = root + "/lists/chaos-\(String(format: "%02d", index)).yaml"
                try ChaosShotLists.yaml(index: index, refs: refs).write(toFile: path, atomically: true, encoding: .utf8)
                files.append(try ShotListFile.load(path))
            }
            let executable = (try? ownExecutable()) ?? CommandLine.arguments[0]
            var settings = ChaosFarm.Settings(root: root, workers: workers, slots: slots)
            settings.coordinators = coordinators
            let farm = ChaosFarm(settings: settings, executable: executable, logger: logger, environment: CommandEnvironment.current)
            defer {
                farm.stopAll()
                farm.stopPostgres()
            }
            let console = Console.current
            var run = ChaosRun(farm: farm, files: files, duration: duration, killEvery: killEvery, settle: settle,
                               generator: SeededGenerator(seed: seed), report: { console.print($0) })
            console.print("chaos: seed \(seed); \(coordinators) coordinator(s); \(workers) workers x \(slots) slots; \(lists) shot lists; \(Int(duration)) s of faults in \(root)")
            try farm.start(faultRates: ["5xx": errorRate, "429": rateLimitRate, "fail_generation": failRate, "seed": Int(seed)])
            console.print("chaos: PostgreSQL in \(root)/pg\(coordinators > 1 ? " (durable)" : ""), fake provider on \(farm.fakeURL), "
                + "coordinator\(coordinators > 1 ? "s" : "") on \(farm.endpoints.joined(separator: ", "))")
            try run.execute()
            let report = try ChaosReport.gather(farm: farm, elapsed: run.elapsed)
            console.write(report.figures)
            console.print(report.line)
            let problems = report.problems
            for problem in problems { console.printError("chaos: \(problem)") }
            guard problems.isEmpty else {
                throw CommandFailure("chaos: \(problems.count) check(s) failed; the daemons' logs are in \(farm.logs)", status: ExitStatus.failure)
            }
        }
    }

    /// Creates (or empties) the run's folder; refuses one that holds anything but an earlier run.
    static func prepare(_ directory: String, logger: Logger) throws -> String {
        let root = URL(fileURLWithPath: directory).standardizedFileURL.path
        let marker = root + "/.keyfarm-chaos"
        let manager = FileManager.default
        if let entries = try? manager.contentsOfDirectory(atPath: root), !entries.isEmpty {
            guard manager.fileExists(atPath: marker) else {
                throw CommandFailure("\(root): not empty and not a keyfarm chaos folder; give another --directory", status: ExitStatus.invalidData)
            }
            // An earlier run's cluster may still be up if that run was killed.
            try? EmbeddedCluster(dataDirectory: root + "/pg", logger: logger).stop(immediately: true)
            do { try manager.removeItem(atPath: root) } catch {
                throw CommandFailure("\(root): cannot empty it: \(error.localizedDescription)", status: ExitStatus.failure)
            }
        }
        // The cluster's socket lives in root/pg; Unix socket paths are short.
        guard (root + "/pg/.s.PGSQL.5432").utf8.count < 100 else {
            throw CommandFailure("\(root): the path is too long for PostgreSQL's socket; give a shorter --directory", status: ExitStatus.invalidData)
        }
        for folder in [root, root + "/storage", root + "/logs", root + "/fake", root + "/lists"] {
            do { try manager.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw CommandFailure("\(folder): cannot create: \(error.localizedDescription)", status: ExitStatus.failure)
            }
        }
        guard manager.createFile(atPath: marker, contents: Data("keyfarm chaos run\n".utf8)) else {
            throw CommandFailure("\(marker): cannot write it", status: ExitStatus.failure)
        }
        return root
    }
}
