import ArgumentParser
import Foundation
import KeyfarmStore

/// `keyfarm status [NAME]`: shot lists, or one list's shots and segments, with state and progress.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show shot lists, or one shot list's shots and segments, with state and progress.",
        discussion: """
            Without NAME, lists every live shot list, newest first. With NAME, shows that list's \
            shots and every job (segment parts and the stitch) with its state, attempts, worker, \
            progress and credits. Job states: waiting (for a dependency), queued, retry_wait, \
            leased, running, succeeded, failed, cancelled.
            """)

    @Argument(help: ArgumentHelp("A shot list's name.", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?

    @Flag(help: "Include shot lists that were replaced by a later submit.")
    var all = false

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @OptionGroup var storage: StorageOption

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            if let name {
                let detail = try store.shotListDetail(name: name, project: project)
                if json {
                    try printJSON(StatusDocument.Detail(detail, storage: storage))
                } else {
                    Console.current.write(Self.render(detail, storage: storage))
                }
            } else {
                let lists = try store.shotLists(project: project, includeReplaced: all)
                if json {
                    try printJSON(StatusDocument.Listing(shot_lists: lists.map(StatusDocument.List.init)))
                } else {
                    Console.current.write(Self.render(lists))
                }
            }
        }
    }

    static func percent(_ progress: Double) -> String { "\(Int((progress * 100).rounded(.down)))%" }

    static func credits(_ list: ShotListStatus) -> String {
        "\(list.spentCredits)/\(list.estimatedCredits)" + (list.budgetCredits.map { " (budget \($0))" } ?? "")
    }

    static func render(_ lists: [ShotListStatus]) -> String {
        guard !lists.isEmpty else { return "no shot lists yet; queue one with: keyfarm submit FILE\n" }
        var table = TextTable(["ID", "NAME", "PROJECT", "STATE", "SHOTS", "JOBS DONE", "PROGRESS", "CREDITS SPENT/EST", "SUBMITTED"],
                              rightAligned: [0, 4, 6])
        let formatter = ISO8601DateFormatter()
        for list in lists {
            table.add(["\(list.id)", list.name, list.project, list.state, "\(list.shots)",
                       "\(list.jobsSucceeded)/\(list.jobsTotal)" + (list.jobsFailed > 0 ? " (\(list.jobsFailed) failed)" : ""),
                       percent(list.progress), credits(list), formatter.string(from: list.createdAt)])
        }
        return table.render() + "\n"
    }

    static func render(_ detail: ShotListDetail, storage: StorageOption) -> String {
        let list = detail.list
        var text = "shot list \(list.name) (project \(list.project), id \(list.id)): \(list.state), \(percent(list.progress)), "
            + "\(list.jobsSucceeded)/\(list.jobsTotal) jobs done, credits spent/estimated \(credits(list))"
            + (list.reservedCredits > 0 ? ", \(list.reservedCredits) reserved" : "")
            + (list.jobsBlocked > 0 ? ", \(list.jobsBlocked) job(s) blocked by the budget" : "") + "\n"
        text += "source: \(list.sourcePath)\n"
        for shot in detail.shots {
            text += "\nshot \(shot.key): \(shot.state), \(percent(shot.progress)), \(shot.frames) frames at \(shot.fps) fps, "
                + "\(shot.jobsSucceeded)/\(shot.jobsTotal) jobs done"
                + (shot.jobsReused > 0 ? " (\(shot.jobsReused) reused)" : "")
                + ", credits \(shot.spentCredits)/\(shot.estimatedCredits)" + (shot.draft ? ", a draft" : "")
                + ", review \(shot.reviewState)"
                + (shot.reviewNote.map { ": \($0)" } ?? "") + "\n"
            if let failure = shot.failure { text += "  failed: \(failure)\n" }
            if !shot.blocklistedWorkers.isEmpty {
                text += "  not given to (failed it three times): \(shot.blocklistedWorkers.joined(separator: ", "))\n"
            }
            var table = TextTable(["JOB", "FRAMES", "ENGINE", "STATE", "ATTEMPTS", "WORKER", "PROGRESS", "CREDITS", "NOTE"],
                                  rightAligned: [6])
            for job in detail.jobs where job.shot == shot.key {
                let short = job.key.hasPrefix(shot.key + "/") ? String(job.key.dropFirst(shot.key.count + 1)) : job.key
                var note = job.lastError ?? ""
                if job.state == "retry_wait" { note = "retry at \(ISO8601DateFormatter().string(from: job.notBefore))" + (note.isEmpty ? "" : "; " + note) }
                if let source = job.reusedFrom { note = "reused " + source }
                table.add([short, "\(job.startFrame)-\(job.endFrame)", job.engine ?? "stitch", job.state,
                           "\(job.attempts)/\(job.maxAttempts)", job.worker ?? "-", percent(job.progress),
                           "\(job.spentCredits)/\(job.estimatedCredits)", note])
            }
            text += table.render(indent: "  ") + "\n"
            for output in detail.outputs where output.shot == shot.key {
                text += "  output \(output.format)\(shot.draft ? " (draft)" : ""): \(storage.fullPath(output)) (\(output.frames) frames)\n"
            }
            for output in detail.drafts where output.shot == shot.key {
                text += "  draft \(output.format) (rev \(output.revision ?? 0)): \(storage.fullPath(output)) (\(output.frames) frames)\n"
            }
        }
        return text
    }
}

/// The JSON shapes of `keyfarm status --json`.
enum StatusDocument {
    struct Listing: Encodable { var shot_lists: [List] }

    struct List: Encodable {
        var id: Int64
        var name: String
        var project: String
        var state: String
        var shots: Int
        var jobs_total: Int
        var jobs_succeeded: Int
        var jobs_failed: Int
        var jobs_running: Int
        var jobs_cancelled: Int
        var progress: Double
        var estimated_credits: Int64
        var spent_credits: Int64
        var budget: Int64?
        var reserved_credits: Int64
        var jobs_blocked: Int
        var source: String
        var created_at: Date
        var updated_at: Date

        init(_ list: ShotListStatus) {
            id = list.id; name = list.name; project = list.project; state = list.state; shots = list.shots
            jobs_total = list.jobsTotal; jobs_succeeded = list.jobsSucceeded; jobs_failed = list.jobsFailed
            jobs_running = list.jobsRunning; jobs_cancelled = list.jobsCancelled; progress = list.progress
            estimated_credits = list.estimatedCredits; spent_credits = list.spentCredits; budget = list.budgetCredits
            reserved_credits = list.reservedCredits; jobs_blocked = list.jobsBlocked
            source = list.sourcePath; created_at = list.createdAt; updated_at = list.updatedAt
        }
    }

    struct Detail: Encodable {
        var shot_list: List
        var shots: [Shot]

        init(_ detail: ShotListDetail, storage: StorageOption) {
            shot_list = List(detail.list)
            shots = detail.shots.map { shot in
                let jobs = detail.jobs.filter { $0.shot == shot.key }
                let indices = Array(Set(jobs.compactMap(\.segmentIndex))).sorted()
                let segments = indices.map { index in Segment(index: index, jobs: jobs.filter { $0.segmentIndex == index }) }
                let outputs = detail.outputs.filter { $0.shot == shot.key }.map { OutputsCommand.Document.Output($0, storage: storage) }
                var document = Shot(shot, segments: segments, stitch: jobs.first { $0.kind == "stitch" }.map(Job.init), outputs: outputs)
                document.draft_outputs = detail.drafts.filter { $0.shot == shot.key }.map {
                    DraftOutput(revision: $0.revision ?? 0, output: OutputsCommand.Document.Output($0, storage: storage))
                }
                return document
            }
        }
    }

    struct Shot: Encodable {
        var id: String
        var state: String
        var progress: Double
        var frames: Int
        var fps: String
        var resolution: String
        var aspect: String
        var jobs_total: Int
        var jobs_succeeded: Int
        var jobs_failed: Int
        var jobs_running: Int
        var estimated_credits: Int64
        var spent_credits: Int64
        var failure: String?
        var blocklisted_workers: [String]
        var review_state: String
        var review_note: String?
        var jobs_reused: Int
        var segments: [Segment]
        var stitch: Job?
        /// The shot's deliverables once stitched (as `keyfarm outputs --json` gives them).
        var outputs: [OutputsCommand.Document.Output]
        /// Whether this revision renders the shot as a draft.
        var draft: Bool
        /// A final shot's newest draft from an earlier revision, beside it.
        var draft_outputs: [DraftOutput] = []

        init(_ shot: ShotStatus, segments: [Segment], stitch: Job?, outputs: [OutputsCommand.Document.Output]) {
            id = shot.key; state = shot.state; progress = shot.progress; frames = shot.frames; fps = shot.fps
            resolution = shot.resolution; aspect = shot.aspect; jobs_total = shot.jobsTotal
            jobs_succeeded = shot.jobsSucceeded; jobs_failed = shot.jobsFailed; jobs_running = shot.jobsRunning
            estimated_credits = shot.estimatedCredits; spent_credits = shot.spentCredits; failure = shot.failure
            review_state = shot.reviewState; review_note = shot.reviewNote; jobs_reused = shot.jobsReused
            draft = shot.draft
            blocklisted_workers = shot.blocklistedWorkers
            self.segments = segments; self.stitch = stitch; self.outputs = outputs
        }
    }

    /// A segment: its state is its last part's while earlier parts succeed, else the first unfinished part's.
    struct Segment: Encodable {
        var index: Int
        var state: String
        var progress: Double
        var start_frame: Int
        var end_frame: Int
        var engine: String?
        var jobs: [Job]

        init(index: Int, jobs statuses: [JobStatus]) {
            self.index = index
            jobs = statuses.map(Job.init)
            state = statuses.first { $0.state != "succeeded" }?.state ?? "succeeded"
            let frames = statuses.reduce(0) { $0 + $1.endFrame - $1.startFrame + 1 }
            let done = statuses.reduce(0.0) { $0 + Double($1.endFrame - $1.startFrame + 1) * ($1.state == "succeeded" ? 1 : $1.progress) }
            progress = frames > 0 ? done / Double(frames) : 0
            start_frame = statuses.map(\.startFrame).min() ?? 0
            end_frame = statuses.map(\.endFrame).max() ?? 0
            engine = statuses.first?.engine
        }
    }

    struct DraftOutput: Encodable {
        var revision: Int
        var output: OutputsCommand.Document.Output
    }

    struct Job: Encodable {
        var id: Int64
        var key: String
        var kind: String
        var segment_index: Int?
        var part: Int
        var parts: Int
        var start_frame: Int
        var end_frame: Int
        var engine: String?
        var state: String
        var priority: Int
        var attempts: Int
        var max_attempts: Int
        var worker: String?
        var progress: Double
        var estimated_credits: Int64
        var spent_credits: Int64
        var last_error: String?
        var not_before: Date
        /// When an earlier identical generation stood in for it: `rev 1 sh010/s0 attempt 1`.
        var reused_from: String?

        init(_ job: JobStatus) {
            reused_from = job.reusedFrom
            id = job.id; key = job.key; kind = job.kind; segment_index = job.segmentIndex; part = job.part
            parts = job.parts; start_frame = job.startFrame; end_frame = job.endFrame; engine = job.engine
            state = job.state; priority = job.priority; attempts = job.attempts; max_attempts = job.maxAttempts
            worker = job.worker; progress = job.progress; estimated_credits = job.estimatedCredits
            spent_credits = job.spentCredits; last_error = job.lastError; not_before = job.notBefore
        }
    }
}
