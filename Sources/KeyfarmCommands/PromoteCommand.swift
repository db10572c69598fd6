import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmHarness
import KeyfarmStore

/// `keyfarm promote LIST [SHOT...] [--force]`: the final render of approved draft shots.
struct PromoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Render the final of approved draft shots, at the list's resolution, HDR and outputs, as its next revision.",
        discussion: """
            A draft (draft: true, or submit --draft) renders every provider segment at its engine's \
            draft tier (ray-3.2: 360p SDR; Luma's other models, fal and WaveSpeed: 540p) into a 360p \
            MP4 under <shot>/draft/. Once a shot is approved (keyfarm approve), promote plans its \
            final from the list as submitted (kept in the database; its images must still be where \
            they were): the list's resolution, HDR, outputs and reframes. It submits that as the \
            list's next revision, in which the other shots stay drafts (reused, so they cost \
            nothing again). Without SHOT it promotes every approved draft shot; a named shot must \
            be approved unless --force. Only the promoted shots' jobs render and cost; \
            `keyfarm credits --by tier` separates draft and final spend, and `keyfarm status` shows \
            a promoted shot's draft beside its final.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "list"))
    var list: String
    @Argument(help: ArgumentHelp("Shots to promote (default: every approved draft shot).", valueName: "shot"))
    var shots: [String] = []
    @Flag(help: "Promote the named shots even when they are not approved.")
    var force = false
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?
    @Flag(help: "Print the receipt as JSON.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if force && shots.isEmpty { throw ValidationError("--force needs the shots to promote named") }
    }

    struct Receipt: Encodable {
        var shot_list: String
        var project: String
        var id: Int64
        var revision: Int
        var promoted: [String]
        var jobs: Int
        var reused_jobs: Int
        var estimated_credits: Int64
    }

    func run() throws {
        try reportingFailures {
            let logger = try common.logger()
            let store = try database.openStore(logger: logger)
            let source = try store.promotionSource(name: list, project: project)
            guard let text = source.sourceText else {
                throw CommandFailure("\(list) (revision \(source.revision)) was submitted before Keyfarm kept shot lists' text; submit \(source.sourcePath) again with --replace, then promote", status: ExitStatus.failure)
            }
            let promoted = try choose(source)
            // The list as submitted, with each shot's draft flag as this revision has it, less
            // the promoted shots'.
            var shotList = try ShotListFile.decode(text, path: source.sourcePath)
            for index in shotList.shots.indices {
                let key = shotList.shots[index].id
                let current = source.shots.first { $0.key == key }
                shotList.shots[index].draft = (current?.draft ?? shotList.shots[index].draft) && !promoted.contains(key)
            }
            let models = try store.modelInputTable()
            let issues = shotList.modelInputIssues(models)
            if !issues.isEmpty { throw ShotListInvalid(issues: issues) }
            let plan = Planner(prices: try store.priceTable(), models: models).plan(shotList)
            let receipt = try store.submit(plan, sourcePath: source.sourcePath, sourceText: text, replace: true)
            if json {
                try printJSON(Receipt(shot_list: list, project: source.project, id: receipt.shotListID, revision: receipt.revision,
                                      promoted: promoted, jobs: receipt.jobs, reused_jobs: receipt.reused.count,
                                      estimated_credits: receipt.estimatedCredits))
            } else {
                Console.current.print("promoted \(promoted.joined(separator: ", ")) to final as revision \(receipt.revision) "
                    + "(id \(receipt.shotListID)): \(receipt.reused.count) of \(receipt.jobs) jobs reused; "
                    + "the rest is estimated at \(receipt.estimatedCredits) credits")
                Console.current.print("follow it with: keyfarm watch \(list)" + (source.project == "default" ? "" : " --project \(source.project)"))
            }
            for warning in plan.warnings { Console.current.printError("keyfarm: warning: " + warning) }
        }
    }

    /// The shots to promote: the named ones (each a draft, and approved unless --force), or
    /// every approved draft shot.
    func choose(_ source: PromotionSource) throws -> [String] {
        guard !shots.isEmpty else {
            let approved = source.shots.filter { $0.draft && $0.review == .approved }.map(\.key)
            guard !approved.isEmpty else {
                let drafts = source.shots.filter(\.draft)
                throw CommandFailure(drafts.isEmpty
                    ? "\(list) has no draft shots: every shot is final already"
                    : "no approved draft shot in \(list); approve one (keyfarm approve \(list) SHOT) or name shots with --force "
                      + "(drafts: " + drafts.map { "\($0.key) \($0.review.rawValue)" }.joined(separator: ", ") + ")",
                    status: ExitStatus.failure)
            }
            return approved
        }
        var chosen: [String] = []
        for name in shots where !chosen.contains(name) {
            guard let shot = source.shots.first(where: { $0.key == name }) else {
                throw StoreError.noSuchShot(shot: name, shotList: list, known: source.shots.map(\.key))
            }
            guard shot.draft else { throw CommandFailure("\(name) is final already", status: ExitStatus.failure) }
            guard force || shot.review == .approved else {
                throw CommandFailure("\(name) is \(shot.review.rawValue), not approved; approve it (keyfarm approve \(list) \(name)) or promote it with --force",
                                     status: ExitStatus.failure)
            }
            chosen.append(name)
        }
        return chosen
    }
}
