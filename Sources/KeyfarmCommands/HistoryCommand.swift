import ArgumentParser
import Foundation
import KeyfarmStore

/// `keyfarm history LIST`: every revision of a shot list, with what it changed, reused and cost.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show every revision of a shot list: when, what changed, what it reused and what it cost.",
        discussion: """
            Each `keyfarm submit` of a name is a revision (the first is 1); `--replace` keeps the \
            older ones as `replaced`. CHANGED lists the shots whose deliverables differ from the \
            revision before (every shot, for the first); REUSED counts the jobs an earlier identical \
            generation stood in for (of those planned to); RENDERED the segment jobs that rendered; \
            CREDITS what was charged (less refunds) beside the estimate. The same rows are the \
            dashboard view `keyfarm.v_revisions`.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "list"))
    var list: String
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?
    @Flag(help: "Print JSON instead of a table.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    struct Document: Encodable {
        struct Revision: Encodable {
            var id: Int64
            var revision: Int
            var state: String
            var replaces_id: Int64?
            var created_at: Date
            var submitted_by: String
            var source: String
            var shots: Int
            var changed_shots: [String]
            var jobs: Int
            var jobs_reuse_planned: Int
            var jobs_reused: Int
            var jobs_rendered: Int
            var estimated_credits: Int64
            var spent_credits: Int64
        }
        var shot_list: String
        var project: String
        var revisions: [Revision]
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let revisions = try store.revisions(name: list, project: project)
            if json {
                try printJSON(Document(shot_list: list, project: revisions[0].project, revisions: revisions.map {
                    .init(id: $0.shotListID, revision: $0.revision, state: $0.state, replaces_id: $0.replacesID,
                          created_at: $0.createdAt, submitted_by: $0.submittedBy, source: $0.sourcePath, shots: $0.shots,
                          changed_shots: $0.changedShots, jobs: $0.jobs, jobs_reuse_planned: $0.jobsReusePlanned,
                          jobs_reused: $0.jobsReused, jobs_rendered: $0.jobsRendered,
                          estimated_credits: $0.estimatedCredits, spent_credits: $0.spentCredits)
                }))
                return
            }
            Console.current.print("shot list \(list) (project \(revisions[0].project)): \(revisions.count) revision(s)")
            var table = TextTable(["REV", "ID", "STATE", "SUBMITTED", "BY", "CHANGED", "REUSED", "RENDERED", "CREDITS SPENT/EST"],
                                  rightAligned: [0, 1])
            let formatter = ISO8601DateFormatter()
            for revision in revisions {
                let changed = revision.changedShots.isEmpty ? "-"
                    : revision.changedShots.count == revision.shots && revision.replacesID == nil ? "all \(revision.shots) shots"
                    : revision.changedShots.joined(separator: ", ")
                table.add(["\(revision.revision)", "\(revision.shotListID)", revision.state,
                           formatter.string(from: revision.createdAt), revision.submittedBy, changed,
                           "\(revision.jobsReused)/\(revision.jobsReusePlanned) of \(revision.jobs)", "\(revision.jobsRendered)",
                           "\(revision.spentCredits)/\(revision.estimatedCredits)"])
            }
            Console.current.write(table.render() + "\n")
        }
    }
}
