import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmStore

/// `keyfarm submit FILE`: validates, plans and queues a shot list.
struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Validate and plan a shot list, then queue its jobs in the database.",
        discussion: """
            Everything (the shot list, its shots, keyframes, jobs and their dependencies) is written \
            in one transaction: after an error nothing of it is there. A shot list's name is unique \
            within its project; --replace cancels the existing one's unfinished jobs and queues this \
            one in its place (the old one's history and credits stay on record).
            """)

    @Argument(help: ArgumentHelp("The shot list (YAML or JSON).", valueName: "file"))
    var file: String

    @Flag(help: "Replace a live shot list of the same name and project.")
    var replace = false

    @Flag(help: "Print the receipt and plan summary as JSON.")
    var json = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    struct Receipt: Encodable {
        var id: Int64
        var shot_list: String
        var project: String
        var shots: Int
        var jobs: Int
        var estimated_credits: Int
        var budget: Int?
        var replaced_id: Int64?
        var warnings: [String]
    }

    func run() throws {
        try reportingFailures {
            let logger = try common.logger()
            // Validate and plan before connecting: an invalid list never reaches the database.
            let loaded = try ShotListFile.load(file)
            let store = try database.openStore(logger: logger)
            // Estimates come from the farm's own price table (`keyfarm prices`); each fal and
            // WaveSpeed job carries its model's input fields, the operator's mapping included.
            let models = try store.modelInputTable()
            try loaded.requireModelInputs(models)
            let plan = Planner(prices: try store.priceTable(), models: models).plan(loaded.list)
            let absolutePath = URL(fileURLWithPath: loaded.path).standardizedFileURL.path
            let receipt = try store.submit(plan, sourcePath: absolutePath, sourceText: loaded.text, replace: replace)
            if json {
                try printJSON(Receipt(id: receipt.shotListID, shot_list: receipt.name, project: receipt.project,
                                      shots: receipt.shots, jobs: receipt.jobs, estimated_credits: plan.estimatedCredits,
                                      budget: plan.budget, replaced_id: receipt.replacedID, warnings: plan.warnings))
            } else {
                Console.current.print("submitted \(PlanPresentation.summary(plan)) as id \(receipt.shotListID)"
                    + (receipt.replacedID.map { "; replaced id \($0)" } ?? ""))
                Console.current.print("follow it with: keyfarm status \(receipt.name)"
                    + (receipt.project == "default" ? "" : " --project \(receipt.project)"))
            }
            for warning in plan.warnings { Console.current.printError("keyfarm: warning: " + warning) }
        }
    }
}
