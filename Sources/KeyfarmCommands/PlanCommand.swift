import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmHarness
import KeyfarmStore

/// `keyfarm plan FILE`: validates a shot list and shows the jobs it would become.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Validate a shot list and print its plan, without changing any database.",
        discussion: """
            Prints every segment job (frames, engine, provider clip length, dependencies, estimated \
            credits) and one stitch job per shot. A generation on an engine that takes many keyframes \
            (luma/ray-3.2) spans several of them: its anchors follow the table as keyframe@position \
            on its 24 fps grid. A shot with `reframe` adds a provider reframe job per generation \
            (ray-3.2) and a stitch per extra aspect. An invalid shot list prints every error, each with \
            the file, the path to the field and the line, and exits with status 65. A fal or \
            WaveSpeed segment that ends on a keyframe image needs its model's end-frame field: \
            plan knows the built-in models, and with --database-url (or $KEYFARM_DATABASE_URL) \
            also the mappings added with `keyfarm providers model set`; without either it \
            connects to no database (not even the embedded one).

            --against NAME compares the plan with the live shot list NAME of the same project \
            (usually the list this file is an edit of) before anything is spent: each job is \
            marked `same` (its request equals NAME's job of that key), `changed`, or `new`, and \
            `reuse` when a succeeded generation of the project asked exactly the same (any list, \
            any revision: that is what `keyfarm submit` would reuse), with what the rest will \
            cost at the farm's prices. It opens the farm's database (the embedded one when no \
            URL is given) and changes nothing in it.
            """)

    @Argument(help: ArgumentHelp("The shot list (YAML or JSON).", valueName: "file"))
    var file: String

    @Flag(help: "Print the plan as JSON instead of a table.")
    var json = false

    @Flag(help: "Plan every shot as a draft (as submit --draft does).")
    var draft = false

    @Option(help: ArgumentHelp("Compare with the live shot list of this name: which jobs changed, which an earlier generation would stand in for, and what the rest costs.",
                               valueName: "name"))
    var against: String?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingFailures {
            let logger = try common.logger()
            var loaded = try ShotListFile.load(file)
            if draft { loaded.markDraft() }
            var models = ModelInputTable.builtIn
            var store: FarmStore?
            if against != nil {
                store = try database.openStore(logger: logger)
            } else if let url = database.explicitURL {
                store = try database.openStore((url, false), logger: logger)
            }
            if let store { models = try store.modelInputTable() }
            try loaded.requireModelInputs(models)
            var planner = Planner(models: models)
            if against != nil, let store { planner.prices = try store.priceTable() }
            let plan = planner.plan(loaded.list)
            var comparison: PlanComparison?
            if let against, let store {
                comparison = try PlanComparison(plan: plan, against: against, store: store)
            }
            if json {
                var text = String(decoding: plan.jsonData(), as: UTF8.self)
                if let comparison { text = try comparison.merged(into: plan.jsonData()) }
                Console.current.print(text)
            } else {
                Console.current.write(PlanPresentation.table(plan, comparison: comparison))
            }
            for warning in plan.warnings { Console.current.printError("keyfarm: warning: " + warning) }
        }
    }
}

/// The readable form of a plan.
enum PlanPresentation {
    static func summary(_ plan: Plan) -> String {
        let segments = plan.shots.reduce(0) { $0 + $1.segments.count }
        let budget = plan.budget.map { "budget \($0)" } ?? "no budget cap"
        return "shot list \(plan.shotList) (project \(plan.project)): \(plan.shots.count) shot\(plan.shots.count == 1 ? "" : "s"), "
            + "\(segments) segment\(segments == 1 ? "" : "s"), \(plan.jobs.count) jobs, "
            + "estimated \(plan.estimatedCredits) credits (\(budget))"
    }

    static func table(_ plan: Plan, comparison: PlanComparison? = nil) -> String {
        var text = summary(plan) + "\n"
        if let budget = plan.budget, plan.estimatedCredits > budget {
            text += "note: the estimate exceeds the budget by \(plan.estimatedCredits - budget) credits\n"
        }
        if let comparison { text += comparison.summary + "\n" }
        for planned in plan.shots {
            let shot = planned.shot
            text += "\nshot \(shot.id): \(shot.duration) s at \(shot.fps) fps = \(planned.frames) frames, "
                + "\(shot.size) (\(shot.resolution.rawValue) \(shot.aspect.rawValue)), outputs "
                + shot.outputs.map(\.rawValue).joined(separator: ", ")
                + (shot.seam > 0 ? ", seam \(shot.seam) frames" : "")
                + ", priority \(shot.priority), estimated \(planned.estimatedCredits) credits\n"
            var table = TextTable(["JOB", "FRAMES", "COUNT", "ENGINE", "CLIP", "START", "END", "AFTER", "CREDITS"]
                                    + (comparison == nil ? [] : ["VS " + comparison!.against.uppercased(), "REUSE"]),
                                  rightAligned: [2, 8])
            for job in planned.jobs {
                var row = [
                    job.key, "\(job.startFrame)-\(job.endFrame)", "\(job.frames)", job.engine?.name ?? "stitch",
                    job.durationBucket.map { "\($0) s" } ?? "-", describe(job.startImage), describe(job.endImage),
                    job.dependsOn.isEmpty ? "-" : abbreviate(job.dependsOn, shot: shot.id),
                    job.priceKnown ? "\(job.estimatedCredits)" : "?",
                ]
                if let comparison {
                    row.append(comparison.change(of: job).rawValue)
                    row.append(comparison.reuse[job.key].map { "from " + $0.description } ?? "-")
                }
                table.add(row)
            }
            text += table.render(indent: "  ") + "\n"
            for job in planned.segments.flatMap(\.jobs) where job.engine?.takesManyKeyframes == true {
                text += "  \(job.key) anchors (keyframe@position on the 24 fps grid, \(job.durationBucket.map { "\($0) s" } ?? "?") clip, "
                    + "positions 0-\(job.endPosition ?? 0) used): "
                    + (job.anchors.isEmpty ? "none (text only)" : job.anchors.map(describe).joined(separator: ", ")) + "\n"
            }
        }
        return text
    }

    /// `k3@96`, or `last of s0@0` for a continuity frame.
    static func describe(_ anchor: Anchor) -> String {
        if case .lastFrameOf = anchor.image { return describe(anchor.image) + "@\(anchor.position)" }
        return "k\(anchor.keyframe.map(String.init) ?? "?")@\(anchor.position)"
    }

    static func describe(_ source: ImageSource) -> String {
        switch source {
        case .none: "-"
        case .file(let path): (path as NSString).lastPathComponent
        case .url: "url"
        case .lastFrameOf(let job): "last of " + (job.split(separator: "/").last.map(String.init) ?? job)
        }
    }

    /// `s0, s1` rather than `sh010/s0, sh010/s1`; the stitch's long list is summarised.
    static func abbreviate(_ keys: [String], shot: String) -> String {
        let short = keys.map { $0.hasPrefix(shot + "/") ? String($0.dropFirst(shot.count + 1)) : $0 }
        return short.count > 4 ? "all \(short.count) segment jobs" : short.joined(separator: ", ")
    }
}
