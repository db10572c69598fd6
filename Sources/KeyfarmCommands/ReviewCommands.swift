import ArgumentParser
import Foundation
import KeyfarmStore

/// `keyfarm approve LIST [SHOT...]`: marks stitched shots approved.
struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Approve stitched shots of a shot list (all of them when no shot is named).",
        discussion: """
            A shot can be reviewed once it is stitched (its state is `succeeded`). Naming a shot \
            that does not exist or is not stitched yet changes nothing and exits non-zero (66 for an \
            unknown shot). Without SHOT, every stitched shot is approved and those not stitched yet \
            are named and left pending. A review holds until the shot changes: a resubmission that \
            changes what a shot delivers, or a new take selected for it, sets it back to `pending`; \
            an unchanged shot keeps its review across revisions. `keyfarm status` and \
            `keyfarm.v_shot_progress.review_state` show it.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "list"))
    var list: String
    @Argument(help: ArgumentHelp("Shots to approve (default: every stitched shot).", valueName: "shot"))
    var shots: [String] = []
    @Option(help: ArgumentHelp("A note kept with the approval.", valueName: "text"))
    var note: String?
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?
    @Flag(help: "Print the shots reviewed as JSON.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingFailures {
            try setReview(.approved, list: list, shots: shots, note: note, project: project, json: json,
                          database: database, common: common)
        }
    }
}

/// `keyfarm reject LIST SHOT --note TEXT`: marks a stitched shot rejected, saying why.
struct RejectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject",
        abstract: "Reject stitched shots of a shot list, with a note saying why.",
        discussion: """
            The note is required: it is what whoever retakes the shot reads (`keyfarm status`, \
            `v_shot_progress.review_note`). Rejecting renders nothing by itself; `keyfarm retake` \
            or an edited shot list does. The shot goes back to `pending` when it changes.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "list"))
    var list: String
    @Argument(help: ArgumentHelp("The shots to reject.", valueName: "shot"))
    var shots: [String]
    @Option(help: ArgumentHelp("Why (required).", valueName: "text"))
    var note: String
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?
    @Flag(help: "Print the shots reviewed as JSON.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard !shots.isEmpty else { throw ValidationError("name at least one shot to reject") }
        guard !note.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("--note must say why the shot is rejected")
        }
    }

    func run() throws {
        try reportingFailures {
            try setReview(.rejected, list: list, shots: shots, note: note, project: project, json: json,
                          database: database, common: common)
        }
    }
}

private struct ReviewDocument: Encodable {
    struct Entry: Encodable {
        var shot: String
        var review_state: String
        var previous: String
    }
    var shot_list: String
    var project: String
    var reviewed: [Entry]
    var not_stitched: [String]
}

private func setReview(_ state: ReviewState, list: String, shots: [String], note: String?, project: String?, json: Bool,
                       database: DatabaseOptions, common: CommonOptions) throws {
    let store = try database.openStore(logger: try common.logger())
    let resolved = try store.resolveShotList(name: list, project: project)
    let reviewer = CommandEnvironment.current["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "operator"
    let reviewed = try store.review(shotListID: resolved.id, shots: shots.isEmpty ? nil : shots, state: state,
                                    note: note, by: reviewer)
    let detail = try store.shotListDetail(name: list, project: resolved.project)
    let left = shots.isEmpty ? detail.shots.filter { $0.state != "succeeded" }.map(\.key) : []
    if json {
        try printJSON(ReviewDocument(shot_list: list, project: resolved.project,
                                     reviewed: reviewed.map { .init(shot: $0.shot, review_state: $0.state.rawValue,
                                                                    previous: $0.previous.rawValue) },
                                     not_stitched: left))
        return
    }
    for shot in reviewed {
        Console.current.print("\(list) \(shot.shot): \(shot.state.rawValue)"
                              + (shot.previous == shot.state ? " (already)" : " (was \(shot.previous.rawValue))"))
    }
    if !left.isEmpty {
        Console.current.print("not stitched yet, left pending: " + left.joined(separator: ", "))
    }
    if reviewed.isEmpty && left.isEmpty { Console.current.print("\(list): no shots to review") }
}
