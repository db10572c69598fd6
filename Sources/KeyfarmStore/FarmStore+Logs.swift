import Foundation
import KeyfarmCore
import KeyfarmPostgres

/// A job found by `keyfarm logs JOB`, with where it belongs.
public struct JobIdentity: Sendable, Equatable {
    public var id: Int64
    public var key: String
    public var kind: String
    public var engine: String?
    public var state: String
    public var attempts: Int
    public var maxAttempts: Int
    public var lastError: String?
    public var shotListID: Int64
    public var shotList: String
    public var project: String
}

/// One attempt at a job, with its outcome and the tail of its worker-side log.
public struct AttemptRecord: Sendable, Equatable {
    public var attempt: Int
    public var worker: String?
    public var startedAt: Date
    public var finishedAt: Date?
    /// nil while it runs; `succeeded`, `failed`, `lost`, `cancelled` or `handed_back`.
    public var outcome: String?
    public var errorClass: String?
    public var error: String?
    public var provider: String?
    public var providerRequestID: String?
    public var credits: Int64
    /// The tail the worker sent with its RESULT; nil when none came (a lost worker sends none,
    /// a running attempt has not sent it yet, and an attempt that logged nothing sends none).
    public var log: AttemptLogTail?
}

/// The last lines an attempt logged on its worker, oldest first.
public struct AttemptLogTail: Sendable, Equatable {
    public var text: String
    /// Lines the attempt logged in all, and how many of those (the oldest) were not kept.
    public var lines: Int
    public var droppedLines: Int
    public var recordedAt: Date
    /// When the coordinator emptied `text` for its log retention; nil while it is kept.
    public var prunedAt: Date?
}

extension FarmStore {
    /// Stores the log tails that came with RESULTs, each bounded to `LogTail.maximumBytes`
    /// (keeping the end). A tail already stored for an attempt (a repeated RESULT) is kept;
    /// tails of attempts that do not exist are ignored. One statement for the whole batch.
    public func recordAttemptLogs(_ logs: [(ref: AttemptRef, tail: String, droppedLines: Int)]) throws {
        let kept = logs.filter { !$0.tail.isEmpty }
        guard !kept.isEmpty else { return }
        var texts: [String] = [], lines: [Int] = [], dropped: [Int] = []
        for entry in kept {
            let bounded = LogTail.bounded(entry.tail)
            let droppedLines = max(entry.droppedLines, 0) + bounded.droppedLines
            texts.append(bounded.text)
            dropped.append(droppedLines)
            lines.append(droppedLines + bounded.text.split(separator: "\n", omittingEmptySubsequences: false).count)
        }
        try connection.execute("""
            INSERT INTO keyfarm.attempt_logs (attempt_id, tail, lines, dropped_lines)
            SELECT a.id, u.tail, u.lines, u.dropped
            FROM unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::int[]) AS u(job_id, attempt, tail, lines, dropped)
            JOIN keyfarm.attempts a ON a.job_id = u.job_id AND a.attempt = u.attempt
            ON CONFLICT (attempt_id) DO NOTHING
            """, [kept.map(\.ref.jobID), kept.map(\.ref.attempt), texts, lines, dropped], prepared: true)
    }

    /// Empties the tails of attempt logs recorded more than `seconds` ago, oldest first and at
    /// most `limit` of them, marking each pruned (the row, with its line counts, stays). Returns
    /// how many it pruned: `limit` means there may be more.
    public func pruneAttemptLogs(olderThan seconds: Double, limit: Int) throws -> Int {
        try connection.execute("""
            WITH pruned AS (
                UPDATE keyfarm.attempt_logs SET tail = '', pruned_at = now()
                WHERE attempt_id IN (
                    SELECT attempt_id FROM keyfarm.attempt_logs
                    WHERE pruned_at IS NULL AND recorded_at < now() - make_interval(secs => $1)
                    ORDER BY recorded_at LIMIT $2)
                RETURNING 1)
            SELECT count(*) AS n FROM pruned
            """, [seconds, limit]).rows[0].decode("n", as: Int.self)
    }

    /// Finds a job by its id (`1234`) or as `LIST/KEY` (`trailer/sh010/s1`: the shot list's name,
    /// then the job's key in it), in `project` when given.
    public func resolveJob(_ reference: String, project: String?) throws -> JobIdentity {
        let trimmed = reference.trimmingCharacters(in: .whitespaces)
        if let id = Int64(trimmed), id > 0 {
            guard let job = try jobIdentity(id: id, project: project) else {
                throw StoreError.noSuchJob(reference: reference, reason: "no job has id \(id)"
                                           + (project.map { " in project \"\($0)\"" } ?? ""))
            }
            return job
        }
        guard let slash = trimmed.firstIndex(of: "/"), slash != trimmed.startIndex, trimmed.index(after: slash) != trimmed.endIndex else {
            throw StoreError.noSuchJob(reference: reference,
                                       reason: "name a job by its id or as LIST/KEY, e.g. trailer/sh010/s1")
        }
        let name = String(trimmed[..<slash]), key = String(trimmed[trimmed.index(after: slash)...])
        let list: (id: Int64, project: String)
        do {
            list = try resolveShotList(name: name, project: project)
        } catch StoreError.noSuchShotList {
            throw StoreError.noSuchJob(reference: reference, reason: StoreError.noSuchShotList(name: name, project: project).description)
        }
        guard let job = try jobIdentity(listID: list.id, key: key) else {
            let keys = try connection.execute("""
                SELECT job_key FROM keyfarm.jobs WHERE shot_list_id = $1 ORDER BY id LIMIT 6
                """, [list.id]).rows.map { try $0.decode("job_key", as: String.self) }
            let examples = keys.prefix(5).joined(separator: ", ") + (keys.count > 5 ? ", ..." : "")
            throw StoreError.noSuchJob(reference: reference, reason: "shot list \(name) has no job \(key)"
                                       + (keys.isEmpty ? "" : " (its jobs: \(examples))"))
        }
        return job
    }

    /// The job with `id` (in `project`, when given), or the job `key` of the list `listID`.
    private func jobIdentity(id: Int64? = nil, project: String? = nil, listID: Int64? = nil,
                             key: String? = nil) throws -> JobIdentity? {
        try connection.execute("""
            SELECT j.id, j.job_key, j.kind, j.engine, j.state, j.attempts, j.max_attempts,
                   COALESCE(j.blocked_reason, j.last_error) AS last_error, j.shot_list_id, j.shot_list, j.project
            FROM keyfarm.v_jobs j
            WHERE ($1::bigint IS NULL OR j.id = $1) AND ($2::text IS NULL OR j.project = $2)
              AND ($3::bigint IS NULL OR j.shot_list_id = $3) AND ($4::text IS NULL OR j.job_key = $4)
            ORDER BY j.id LIMIT 1
            """, [id, project, listID, key]).rows.first.map { row in
            JobIdentity(id: try row.decode("id"), key: try row.decode("job_key"), kind: try row.decode("kind"),
                        engine: try row.decode("engine", as: String?.self), state: try row.decode("state"),
                        attempts: try row.decode("attempts"), maxAttempts: try row.decode("max_attempts"),
                        lastError: try row.decode("last_error", as: String?.self), shotListID: try row.decode("shot_list_id"),
                        shotList: try row.decode("shot_list"), project: try row.decode("project"))
        }
    }

    /// Every attempt at a job, first to last, with the log tail its worker sent.
    public func attempts(jobID: Int64) throws -> [AttemptRecord] {
        try connection.execute("""
            SELECT a.attempt, a.worker, a.started_at, a.finished_at, a.outcome, a.error_class, a.error,
                   a.provider, a.provider_request_id, a.credits,
                   g.tail, g.lines, g.dropped_lines, g.recorded_at, g.pruned_at
            FROM keyfarm.v_attempts a
            LEFT JOIN keyfarm.attempt_logs g ON g.attempt_id = a.attempt_id
            WHERE a.job_id = $1 ORDER BY a.attempt
            """, [jobID]).rows.map { row in
            let log: AttemptLogTail? = if let text = try row.decode("tail", as: String?.self) {
                AttemptLogTail(text: text, lines: try row.decode("lines"), droppedLines: try row.decode("dropped_lines"),
                               recordedAt: try row.decode("recorded_at"), prunedAt: try row.decode("pruned_at", as: Date?.self))
            } else { nil }
            return AttemptRecord(
                attempt: try row.decode("attempt"), worker: try row.decode("worker", as: String?.self),
                startedAt: try row.decode("started_at"), finishedAt: try row.decode("finished_at", as: Date?.self),
                outcome: try row.decode("outcome", as: String?.self), errorClass: try row.decode("error_class", as: String?.self),
                error: try row.decode("error", as: String?.self), provider: try row.decode("provider", as: String?.self),
                providerRequestID: try row.decode("provider_request_id", as: String?.self), credits: try row.decode("credits"),
                log: log)
        }
    }
}
