import ArgumentParser
import Foundation
import KeyfarmStore

/// `keyfarm watch NAME`: follows a shot list until it finishes.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow a shot list's progress until it finishes.",
        discussion: """
            Prints a line whenever the list's progress changes (a job finished, started, failed or \
            is waiting for a retry), then a summary per shot. Exits 0 when every job succeeded, 1 \
            when some failed for good or the list was cancelled, 75 when --timeout passed first.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "name")) var name: String
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project")) var project: String?
    @Option(help: ArgumentHelp("Seconds between checks.", valueName: "seconds")) var interval: Double = 1
    @Option(help: ArgumentHelp("Give up after this many seconds.", valueName: "seconds")) var timeout: Double = 86_400
    @Flag(help: "Print one JSON object per change instead of lines.") var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard interval >= 0.05, interval <= 3600 else { throw ValidationError("--interval must be between 0.05 and 3600 seconds") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    struct Line: Encodable {
        var shot_list: String
        var state: String
        var progress: Double
        var jobs_total: Int
        var jobs_succeeded: Int
        var jobs_running: Int
        var jobs_failed: Int
        var spent_credits: Int64
        var at: Date
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let start = Date()
            var last = ""
            while true {
                let detail = try store.shotListDetail(name: name, project: project)
                let list = detail.list
                let retrying = detail.jobs.filter { $0.state == "retry_wait" }.count
                let line = "\(list.name): \(list.state), \(StatusCommand.percent(list.progress)), \(list.jobsSucceeded)/\(list.jobsTotal) done, "
                    + "\(list.jobsRunning) running" + (retrying > 0 ? ", \(retrying) waiting to retry" : "")
                    + (list.jobsFailed > 0 ? ", \(list.jobsFailed) failed" : "") + ", \(list.spentCredits) credits spent"
                if line != last {
                    last = line
                    if json {
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.sortedKeys]
                        encoder.dateEncodingStrategy = .iso8601
                        Console.current.print(String(decoding: try encoder.encode(Line(
                            shot_list: list.name, state: list.state, progress: list.progress, jobs_total: list.jobsTotal,
                            jobs_succeeded: list.jobsSucceeded, jobs_running: list.jobsRunning, jobs_failed: list.jobsFailed,
                            spent_credits: list.spentCredits, at: Date())), as: UTF8.self))
                    } else {
                        Console.current.print("\(ISO8601DateFormatter().string(from: Date()))  \(line)")
                    }
                }
                switch list.state {
                case "succeeded":
                    return
                case "failed", "cancelled", "replaced":
                    if !json {
                        for shot in detail.shots where shot.failure != nil { Console.current.print("  \(shot.key): \(shot.failure!)") }
                    }
                    throw CommandFailure("shot list \(list.name) \(list.state)", status: ExitStatus.failure)
                default:
                    break
                }
                if Date().timeIntervalSince(start) > timeout {
                    throw CommandFailure("still \(list.state) after \(Int(timeout)) s", status: 75)
                }
                Thread.sleep(forTimeInterval: interval)
            }
        }
    }
}
