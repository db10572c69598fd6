import ArgumentParser
import KeyfarmStore

/// `keyfarm cancel NAME`: stops a shot list's unfinished work.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a shot list: its unfinished jobs stop and are never retried.",
        discussion: """
            Jobs that have not finished become cancelled in one transaction; jobs running on a \
            worker are stopped by the coordinator. Succeeded jobs, their outputs and every credit \
            already spent stay on record.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?

    @Flag(help: "Print the outcome as JSON.")
    var json = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    struct Outcome: Encodable {
        var id: Int64
        var shot_list: String
        var cancelled_jobs: Int
        var interrupted_jobs: Int
        var was_already_cancelled: Bool
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let receipt = try store.cancel(name: name, project: project)
            if json {
                try printJSON(Outcome(id: receipt.shotListID, shot_list: name, cancelled_jobs: receipt.cancelledJobs,
                                      interrupted_jobs: receipt.interruptedJobs,
                                      was_already_cancelled: receipt.wasAlreadyCancelled))
            } else if receipt.cancelledJobs == 0 {
                Console.current.print(receipt.wasAlreadyCancelled
                    ? "shot list \(name) (id \(receipt.shotListID)) was already cancelled; nothing to do"
                    : "shot list \(name) (id \(receipt.shotListID)) is cancelled; it had no unfinished jobs")
            } else {
                Console.current.print("cancelled shot list \(name) (id \(receipt.shotListID)): \(receipt.cancelledJobs) job\(receipt.cancelledJobs == 1 ? "" : "s") cancelled"
                    + (receipt.interruptedJobs > 0 ? ", of which \(receipt.interruptedJobs) running (their workers will be told to stop)" : ""))
            }
        }
    }
}
