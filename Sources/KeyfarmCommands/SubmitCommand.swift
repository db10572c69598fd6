import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmHarness
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
            one in its place (the old one's history and credits stay on record) as its next revision.

            Reuse: every job has a request key, a SHA-256 over exactly what it asks its engine \
            (engine, prompt as sent, each image's content and position, resolution, aspect, clip \
            length, HDR and EXR flags; a continuity frame counts as the request it continues). A job \
            whose key matches a succeeded generation of the same project (any list, any revision) \
            takes that generation's artifacts instead of rendering: no provider call, no credits, an \
            attempt with outcome `reused` naming its source. So `submit edited.yaml --replace` renders \
            only what the edit changed and what continues from it, then restitches. The worker first \
            checks that the reused files are still in storage with their checksums; when one is not, \
            the job (and whatever continues from it) renders after all. --no-reuse, or `reuse: false` \
            on a shot, renders everything. `keyfarm plan FILE --against NAME` shows beforehand what \
            would be reused and what the rest costs.
            """)

    @Argument(help: ArgumentHelp("The shot list (YAML or JSON).", valueName: "file"))
    var file: String

    @Flag(help: "Replace a live shot list of the same name and project.")
    var replace = false

    @Flag(help: "Render every job, even where an earlier identical generation of the project could stand in.")
    var noReuse = false

    @Flag(help: "Render every shot as a draft (as if it said draft: true); keyfarm promote renders the final.")
    var draft = false

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
        /// What the jobs nothing stands in for are estimated to cost.
        var estimated_credits: Int64
        /// The whole plan's estimate, as if nothing were reused.
        var planned_credits: Int
        var budget: Int?
        var replaced_id: Int64?
        var revision: Int
        var reused_jobs: [ReusedJob]
        var warnings: [String]
    }

    struct ReusedJob: Encodable {
        var job_key: String
        var source_shot_list: String
        var source_revision: Int
        var source_job_key: String
        var source_job_id: Int64
        var source_attempt: Int
        var source_attempt_id: Int64
    }

    func run() throws {
        try reportingFailures {
            let logger = try common.logger()
            // Validate and plan before connecting: an invalid list never reaches the database.
            var loaded = try ShotListFile.load(file)
            if draft { loaded.markDraft() }
            let store = try database.openStore(logger: logger)
            // Estimates come from the farm's own price table (`keyfarm prices`); each fal and
            // WaveSpeed job carries its model's input fields, the operator's mapping included.
            let models = try store.modelInputTable()
            try loaded.requireModelInputs(models)
            let plan = Planner(prices: try store.priceTable(), models: models).plan(loaded.list)
            let absolutePath = URL(fileURLWithPath: loaded.path).standardizedFileURL.path
            let receipt = try store.submit(plan, sourcePath: absolutePath, sourceText: loaded.text, replace: replace,
                                           reuse: !noReuse)
            if json {
                try printJSON(Receipt(id: receipt.shotListID, shot_list: receipt.name, project: receipt.project,
                                      shots: receipt.shots, jobs: receipt.jobs, estimated_credits: receipt.estimatedCredits,
                                      planned_credits: plan.estimatedCredits, budget: plan.budget,
                                      replaced_id: receipt.replacedID, revision: receipt.revision,
                                      reused_jobs: receipt.reused.map {
                                          ReusedJob(job_key: $0.jobKey, source_shot_list: $0.shotList,
                                                    source_revision: $0.revision, source_job_key: $0.sourceJobKey,
                                                    source_job_id: $0.sourceJobID, source_attempt: $0.attempt,
                                                    source_attempt_id: $0.attemptID)
                                      },
                                      warnings: plan.warnings))
            } else {
                Console.current.print("submitted \(PlanPresentation.summary(plan)) as id \(receipt.shotListID), "
                    + "revision \(receipt.revision)" + (receipt.replacedID.map { "; replaced id \($0)" } ?? ""))
                if !receipt.reused.isEmpty {
                    let saved = plan.estimatedCredits - Int(receipt.estimatedCredits)
                    Console.current.print("reusing \(receipt.reused.count) of \(receipt.jobs) jobs from earlier generations "
                        + "(saving \(saved) credits); the rest is estimated at \(receipt.estimatedCredits) credits")
                    for source in receipt.reused {
                        Console.current.print("  \(source.jobKey) <- \(source.description)")
                    }
                }
                Console.current.print("follow it with: keyfarm status \(receipt.name)"
                    + (receipt.project == "default" ? "" : " --project \(receipt.project)"))
            }
            for warning in plan.warnings { Console.current.printError("keyfarm: warning: " + warning) }
        }
    }
}
