import ArgumentParser
import Foundation
import KeyfarmStore

/// `keyfarm logs JOB`: every attempt at a job, its error, and the tail of its worker-side log.
struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Show each attempt at a job: worker, times, outcome, error, and the tail of its worker-side log.",
        discussion: """
            JOB is the job's id (as `keyfarm status NAME --json` shows it) or LIST/KEY: the shot \
            list's name, then the job's key in it, e.g. trailer/sh010/s1 or trailer/sh010/stitch.

            The log tail is what the attempt logged on its worker (its engine's lines: provider \
            submissions and polling, interpolation, stitching; info and above, debug too when the \
            worker logs debug), the last 200 lines or 64 KiB, sent with the attempt's result. An \
            attempt whose worker was lost sent none, and a running attempt has not sent it yet. \
            Tails older than the coordinator's --log-retention (30 days unless set) are emptied; \
            the attempt then shows when its log was pruned.
            """)

    @Argument(help: ArgumentHelp("The job: its id, or LIST/KEY (e.g. trailer/sh010/s1).", valueName: "job"))
    var job: String
    @Option(help: ArgumentHelp("The project, when the list's name is used in several.", valueName: "project"))
    var project: String?
    @Option(help: ArgumentHelp("Show at most this many of the last log lines per attempt (0: all that were kept).",
                               valueName: "count"))
    var lines: Int = 0
    @Flag(help: "Print JSON instead of text.")
    var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        let trimmed = job.trimmingCharacters(in: .whitespaces)
        guard Int64(trimmed).map({ $0 > 0 }) ?? (trimmed.contains("/") && !trimmed.hasPrefix("/") && !trimmed.hasSuffix("/")) else {
            throw ValidationError("JOB must be a job id or LIST/KEY, e.g. trailer/sh010/s1; got \"\(job)\"")
        }
        guard lines >= 0 else { throw ValidationError("--lines must be 0 or more") }
    }

    struct Document: Encodable {
        var job: Job
        var attempts: [Attempt]

        struct Job: Encodable {
            var id: Int64
            var key: String
            var shot_list: String
            var project: String
            var kind: String
            var engine: String?
            var state: String
            var attempts: Int
            var max_attempts: Int
            var last_error: String?
        }

        struct Attempt: Encodable {
            var attempt: Int
            var worker: String?
            var started_at: Date
            var finished_at: Date?
            var outcome: String?
            var error_class: String?
            var error: String?
            var provider: String?
            var provider_request_id: String?
            var credits: Int64
            /// The kept lines, oldest first; left out when the worker sent no log for the attempt or
            /// its log was pruned (then `log_pruned_at` says when).
            var log: [String]?
            var log_lines: Int
            var log_lines_dropped: Int
            var log_pruned_at: Date?
        }
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let job = try store.resolveJob(job, project: project)
            let attempts = try store.attempts(jobID: job.id)
            if json {
                try printJSON(Document(
                    job: .init(id: job.id, key: job.key, shot_list: job.shotList, project: job.project, kind: job.kind,
                               engine: job.engine, state: job.state, attempts: job.attempts, max_attempts: job.maxAttempts,
                               last_error: job.lastError),
                    attempts: attempts.map { attempt in
                        .init(attempt: attempt.attempt, worker: attempt.worker, started_at: attempt.startedAt,
                              finished_at: attempt.finishedAt, outcome: attempt.outcome, error_class: attempt.errorClass,
                              error: attempt.error, provider: attempt.provider, provider_request_id: attempt.providerRequestID,
                              credits: attempt.credits,
                              log: attempt.log.flatMap { $0.prunedAt == nil ? shown($0.text) : nil },
                              log_lines: attempt.log?.lines ?? 0, log_lines_dropped: attempt.log?.droppedLines ?? 0,
                              log_pruned_at: attempt.log?.prunedAt)
                    }))
            } else {
                Console.current.write(render(job, attempts))
            }
        }
    }

    /// The kept lines, the last `--lines` of them when given.
    func shown(_ text: String) -> [String] {
        let all = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return lines > 0 ? Array(all.suffix(lines)) : all
    }

    func render(_ job: JobIdentity, _ attempts: [AttemptRecord]) -> String {
        let formatter = ISO8601DateFormatter()
        var text = "job \(job.shotList)/\(job.key) (id \(job.id), project \(job.project)): \(job.kind)"
            + (job.engine.map { " on \($0)" } ?? "") + ", \(job.state), \(job.attempts) of \(job.maxAttempts) attempts"
            + (job.lastError.map { "\nlast error: \($0)" } ?? "") + "\n"
        if attempts.isEmpty {
            text += "\nno attempts yet: the job has not been given to a worker\n"
        }
        for attempt in attempts {
            let ended = attempt.finishedAt.map { " -> \(formatter.string(from: $0)) (\(WatchFrame.duration($0.timeIntervalSince(attempt.startedAt))))" } ?? " -> (running)"
            text += "\nattempt \(attempt.attempt) on \(attempt.worker ?? "no worker"): \(attempt.outcome ?? "running")\n"
            text += "  time: \(formatter.string(from: attempt.startedAt))\(ended)\n"
            if let error = attempt.error {
                text += "  error: " + (attempt.errorClass.map { "[\($0)] " } ?? "") + error + "\n"
            }
            if let provider = attempt.provider {
                text += "  provider: \(provider)" + (attempt.providerRequestID.map { ", request \($0)" } ?? "") + "\n"
            } else if let request = attempt.providerRequestID {
                text += "  provider request: \(request)\n"
            }
            if attempt.credits > 0 { text += "  credits: \(attempt.credits)\n" }
            guard let log = attempt.log else {
                text += "  log: " + (attempt.outcome == nil ? "none yet (it comes with the attempt's result)"
                    : attempt.outcome == "lost" ? "none: the worker was lost, so no log tail came back"
                    : "none: the attempt logged nothing") + "\n"
                continue
            }
            if let pruned = log.prunedAt {
                text += "  log: pruned \(formatter.string(from: pruned)) for the coordinator's log retention ("
                    + "\(log.lines) line\(log.lines == 1 ? "" : "s") logged)\n"
                continue
            }
            let kept = shown(log.text)
            let hidden = max(log.lines - kept.count, 0)
            text += "  log (\(kept.count == 1 ? "last line" : "last \(kept.count) lines") of \(log.lines)"
                + (hidden > 0 ? "; \(hidden) earlier not shown" : "") + "):\n"
            for line in kept { text += "    " + line + "\n" }
        }
        return text
    }
}
