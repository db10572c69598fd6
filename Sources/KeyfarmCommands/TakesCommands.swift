import ArgumentParser
import Foundation
import KeyfarmStore

/// `keyfarm retake LIST SHOT/SEGMENT [--prompt TEXT]`: renders another take of one segment.
struct RetakeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retake",
        abstract: "Render another take of one segment (a new, paid generation); select it to use it.",
        discussion: """
            SHOT/SEGMENT is the segment's job key as `keyfarm plan` and `keyfarm takes` show it: \
            `sh010/s1`, or `sh010/s1p2` for a part of a long segment. The new take copies the \
            segment's selected take (the same keyframes, start and end, engine and clip length), with \
            --prompt instead of its prompt when given. It is a new request, so it renders (unless an \
            earlier identical take of the project stands in), is estimated and budgeted like any \
            job, and waits for the frame it starts from like the take it copies. The shot's \
            stitch keeps its take until `keyfarm select`; every take stays on disk and in the \
            database. A segment continued by provider reframes cannot switch takes yet.

            Providers here take no seed: a retake asks the same again, and the provider renders it \
            anew. The take number is part of the request key, so the same take of the same request \
            in a later revision is reused.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "list"))
    var list: String
    @Argument(help: ArgumentHelp("The segment: SHOT/SEGMENT, e.g. sh010/s1.", valueName: "segment"))
    var segment: String
    @Option(help: ArgumentHelp("The prompt for this take (default: the selected take's).", valueName: "text"))
    var prompt: String?
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?
    @Flag(help: "Print the receipt as JSON.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if let prompt, prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ValidationError("--prompt is empty; leave it out to keep the selected take's prompt")
        }
        if let prompt, prompt.count > 5000 { throw ValidationError("--prompt is \(prompt.count) characters, at most 5000") }
    }

    struct Receipt: Encodable {
        var shot_list: String
        var segment: String
        var take: Int
        var job_id: Int64
        var job_key: String
        var estimated_credits: Int64
        var reused_from: String?
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let resolved = try store.resolveShotList(name: list, project: project)
            let receipt = try store.retake(shotListID: resolved.id, segment: segment, prompt: prompt)
            if json {
                try printJSON(Receipt(shot_list: list, segment: receipt.segment, take: receipt.take, job_id: receipt.jobID,
                                      job_key: receipt.jobKey, estimated_credits: receipt.estimatedCredits,
                                      reused_from: receipt.reused?.description))
                return
            }
            Console.current.print("queued take \(receipt.take) of \(receipt.segment) as job \(receipt.jobKey) (id \(receipt.jobID)); "
                + (receipt.reused.map { "an earlier identical generation stands in for it (\($0.description))" }
                   ?? "estimated \(receipt.estimatedCredits) credits"))
            Console.current.print("when it is done: keyfarm select \(list) \(receipt.segment) \(receipt.take)"
                                  + (resolved.project == "default" ? "" : " --project \(resolved.project)"))
        }
    }
}

/// `keyfarm takes LIST [SHOT]`: every segment's takes.
struct TakesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "takes",
        abstract: "List each segment's takes: state, engine, prompt, credits, provider request, and which one is selected.",
        discussion: """
            A segment has take 1 as planned, and one more for each `keyfarm retake` (and for each \
            take made because the segment continues from another segment whose take changed). The \
            selected take (*) is the one the shot's stitch uses; `keyfarm select` changes it.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "list"))
    var list: String
    @Argument(help: ArgumentHelp("Only this shot's segments.", valueName: "shot"))
    var shot: String?
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?
    @Flag(help: "Print JSON instead of a table.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    struct Document: Encodable {
        struct Take: Encodable {
            var shot: String
            var segment: String
            var take: Int
            var job_id: Int64
            var job_key: String
            var state: String
            var engine: String?
            var prompt: String?
            var estimated_credits: Int64
            var spent_credits: Int64
            var provider_request_id: String?
            var selected: Bool
            var reused_from: String?
        }
        var shot_list: String
        var project: String
        var takes: [Take]
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let resolved = try store.resolveShotList(name: list, project: project)
            let takes = try store.takes(shotListID: resolved.id, shot: shot)
            if let shot, takes.isEmpty {
                let known = try store.shotListDetail(name: list, project: resolved.project).shots.map(\.key)
                throw StoreError.noSuchShot(shot: shot, shotList: list, known: known)
            }
            if json {
                try printJSON(Document(shot_list: list, project: resolved.project, takes: takes.map {
                    .init(shot: $0.shot, segment: $0.segment, take: $0.take, job_id: $0.jobID, job_key: $0.jobKey, state: $0.state,
                          engine: $0.engine, prompt: $0.prompt, estimated_credits: $0.estimatedCredits,
                          spent_credits: $0.spentCredits, provider_request_id: $0.providerRequestID, selected: $0.selected,
                          reused_from: $0.reusedFrom)
                }))
                return
            }
            guard !takes.isEmpty else {
                Console.current.print("\(list): no segments")
                return
            }
            var table = TextTable(["SEGMENT", "TAKE", "", "JOB", "STATE", "ENGINE", "CREDITS", "REQUEST", "PROMPT"],
                                  rightAligned: [1, 6])
            for take in takes {
                let prompt = take.prompt.map { $0.count > 48 ? String($0.prefix(47)) + "…" : $0 } ?? "-"
                table.add([take.segment, "\(take.take)", take.selected ? "*" : "", take.jobKey, take.state, take.engine ?? "-",
                           "\(take.spentCredits)/\(take.estimatedCredits)",
                           take.reusedFrom.map { "reused " + $0 } ?? take.providerRequestID ?? "-", prompt])
            }
            Console.current.write(table.render() + "\n* the take the stitch uses\n")
        }
    }
}

/// `keyfarm select LIST SHOT/SEGMENT TAKE`: the take the shot's stitch uses.
struct SelectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "select",
        abstract: "Choose the take of a segment that its shot's stitch uses, and restitch the shot.",
        discussion: """
            The shot's stitches are queued again with that take (they wait for it if it is still \
            rendering), and the shot's review goes back to `pending`; the manifest names the take \
            of every frame. A segment that continues from this one's last frame must start from \
            the new take's: a take of it that already does is selected, or a new take is made, \
            which renders unless an earlier identical generation stands in. A take that continues \
            from a take not selected is refused, as is a change while the shot is stitching.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "list"))
    var list: String
    @Argument(help: ArgumentHelp("The segment: SHOT/SEGMENT, e.g. sh010/s1.", valueName: "segment"))
    var segment: String
    @Argument(help: ArgumentHelp("The take number (keyfarm takes lists them).", valueName: "take"))
    var take: Int
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?
    @Flag(help: "Print the receipt as JSON.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard take >= 1 else { throw ValidationError("the take number is 1 or more") }
    }

    struct Receipt: Encodable {
        struct Continued: Encodable {
            var segment: String
            var take: Int
            var job_key: String
            var created: Bool
        }
        var shot_list: String
        var segment: String
        var take: Int
        var job_key: String
        var already_selected: Bool
        var continued: [Continued]
        var restitched: [String]
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let resolved = try store.resolveShotList(name: list, project: project)
            let receipt = try store.select(shotListID: resolved.id, segment: segment, take: take)
            if json {
                try printJSON(Receipt(shot_list: list, segment: receipt.segment, take: receipt.take, job_key: receipt.jobKey,
                                      already_selected: receipt.alreadySelected,
                                      continued: receipt.continued.map { .init(segment: $0.segment, take: $0.take, job_key: $0.jobKey,
                                                                               created: $0.created) },
                                      restitched: receipt.restitched))
                return
            }
            guard !receipt.alreadySelected else {
                Console.current.print("take \(receipt.take) of \(receipt.segment) is already selected; nothing changed")
                return
            }
            Console.current.print("selected take \(receipt.take) of \(receipt.segment) (\(receipt.jobKey))")
            for continued in receipt.continued {
                Console.current.print("  \(continued.segment) continues from it: take \(continued.take) (\(continued.jobKey))"
                                      + (continued.created ? ", a new take that renders unless reused" : ", made earlier"))
            }
            Console.current.print("  restitching " + receipt.restitched.joined(separator: ", ")
                                  + "; follow with: keyfarm watch \(list)" + (resolved.project == "default" ? "" : " --project \(resolved.project)"))
        }
    }
}
