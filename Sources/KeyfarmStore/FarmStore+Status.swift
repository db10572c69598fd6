import Foundation
import KeyfarmPostgres

/// One shot list as `keyfarm status` lists it.
public struct ShotListStatus: Sendable, Equatable {
    public var id: Int64
    public var project: String
    public var name: String
    /// queued, running, succeeded, failed, cancelled or replaced (derived from its jobs).
    public var state: String
    public var shots: Int
    public var jobsTotal: Int
    public var jobsSucceeded: Int
    public var jobsFailed: Int
    public var jobsRunning: Int
    public var jobsCancelled: Int
    /// 0...1, weighted by frames.
    public var progress: Double
    public var estimatedCredits: Int64
    public var spentCredits: Int64
    public var budgetCredits: Int64?
    /// Estimates reserved for provider attempts still running.
    public var reservedCredits: Int64
    /// Jobs waiting for budget.
    public var jobsBlocked: Int
    public var sourcePath: String
    public var createdAt: Date
    public var updatedAt: Date
}

/// One shot, as `v_shot_progress` shows it.
public struct ShotStatus: Sendable, Equatable {
    public var key: String
    public var state: String
    public var frames: Int
    public var fps: String
    public var resolution: String
    public var aspect: String
    public var jobsTotal: Int
    public var jobsSucceeded: Int
    public var jobsFailed: Int
    public var jobsRunning: Int
    public var progress: Double
    public var estimatedCredits: Int64
    public var spentCredits: Int64
    public var failure: String?
    /// Workers that failed this shot's jobs three times and are not given it again.
    public var blocklistedWorkers: [String] = []
    /// `pending`, `approved` or `rejected`, with the reviewer's note.
    public var reviewState: String = "pending"
    public var reviewNote: String?
    /// Jobs an earlier identical generation stood in for.
    public var jobsReused: Int = 0
    /// A draft render (draft tiers, a 360p MP4 under `<shot>/draft/`).
    public var draft = false
}

/// One job, as `v_jobs` shows it.
public struct JobStatus: Sendable, Equatable {
    public var id: Int64
    public var shot: String
    public var key: String
    public var kind: String
    public var segmentIndex: Int?
    public var part: Int
    public var parts: Int
    public var startFrame: Int
    public var endFrame: Int
    public var engine: String?
    public var state: String
    public var priority: Int
    public var attempts: Int
    public var maxAttempts: Int
    public var worker: String?
    public var progress: Double
    public var estimatedCredits: Int64
    public var spentCredits: Int64
    public var lastError: String?
    public var notBefore: Date
    /// When an earlier generation stood in for it: `rev 1 sh010/s0 attempt 1`.
    public var reusedFrom: String?
}

/// A shot list with its shots and jobs.
public struct ShotListDetail: Sendable, Equatable {
    public var list: ShotListStatus
    public var shots: [ShotStatus]
    public var jobs: [JobStatus]
    /// The deliverables of the shots stitched so far.
    public var outputs: [ShotOutput] = []
    /// For each shot that is final in this revision, its newest draft's deliverables from an
    /// earlier revision (`revision` set): a draft and its final side by side.
    public var drafts: [ShotOutput] = []
}

/// A deliverable of a stitched shot (a row of `keyfarm.v_outputs`).
public struct ShotOutput: Sendable, Equatable {
    public var shot: String
    /// `mp4`, `prores`, `exr` (a sequence, named by its pattern) or `manifest`.
    public var format: String
    /// Relative to the farm's storage root.
    public var path: String
    public var frames: Int
    public var bytes: Int64
    public var sha256: String
    public var stitchedAt: Date?
    /// The storage root of the worker that wrote it, as that worker mounts it; nil for outputs
    /// stitched before workers reported their root.
    public var storageRoot: String? = nil
    /// For a draft shown beside its final: the revision it was rendered in.
    public var revision: Int? = nil

    /// The output's full path: under `mount` (the operator's own mount of the shared storage)
    /// when given, else under the root the worker wrote it to, else under `fallback`.
    public func fullPath(mount: String?, fallback: String) -> String {
        (mount ?? storageRoot ?? fallback) + "/" + path
    }
}

/// What `cancel` did.
public struct CancelReceipt: Sendable, Equatable {
    public var shotListID: Int64
    public var cancelledJobs: Int
    /// Of those, jobs that were leased to or running on a worker (the coordinator stops them).
    public var interruptedJobs: Int
    public var wasAlreadyCancelled: Bool
}

extension FarmStore {
    /// Every live shot list (or, with `name`, the one so called; with `ids`, those), newest first.
    public func shotLists(name: String? = nil, project: String? = nil, includeReplaced: Bool = false,
                          ids: [Int64]? = nil) throws -> [ShotListStatus] {
        let rows = try connection.execute("""
            SELECT l.id, l.project, l.name, l.state AS intent, l.budget_credits, l.estimated_credits, l.source_path,
                   l.created_at, GREATEST(l.updated_at, max(p.updated_at)) AS updated_at,
                   count(p.shot_id) AS shots,
                   COALESCE(sum(p.jobs_total), 0)::bigint AS jobs_total,
                   COALESCE(sum(p.jobs_succeeded), 0)::bigint AS jobs_succeeded,
                   COALESCE(sum(p.jobs_failed), 0)::bigint AS jobs_failed,
                   COALESCE(sum(p.jobs_running), 0)::bigint AS jobs_running,
                   COALESCE(sum(p.jobs_cancelled), 0)::bigint AS jobs_cancelled,
                   COALESCE(sum(p.jobs_queued + p.jobs_waiting), 0)::bigint AS jobs_pending,
                   COALESCE(sum(p.progress * p.frames) / NULLIF(sum(p.frames), 0), 0)::float8 AS progress,
                   l.spent_credits, l.reserved_credits,
                   (SELECT count(*) FROM keyfarm.jobs bj WHERE bj.shot_list_id = l.id AND bj.state = 'blocked') AS jobs_blocked
            FROM keyfarm.shot_lists l
            LEFT JOIN keyfarm.v_shot_progress p ON p.shot_list_id = l.id
            WHERE ($1::text IS NULL OR l.name = $1) AND ($2::text IS NULL OR l.project = $2)
              AND ($3::bool OR l.state <> 'replaced') AND ($4::bigint[] IS NULL OR l.id = ANY($4::bigint[]))
            GROUP BY l.id
            ORDER BY l.created_at DESC, l.id DESC
            """, [name, project, includeReplaced, ids]).rows
        return try rows.map { row in
            let intent: String = try row.decode("intent")
            let total: Int = try row.decode("jobs_total"), succeeded: Int = try row.decode("jobs_succeeded")
            let failed: Int = try row.decode("jobs_failed"), running: Int = try row.decode("jobs_running")
            let pending: Int = try row.decode("jobs_pending")
            let blocked: Int = try row.decode("jobs_blocked")
            let state: String
            if intent != "active" { state = intent }
            else if total > 0 && succeeded == total { state = "succeeded" }
            else if failed > 0 && running == 0 && pending == 0 && blocked == 0 { state = "failed" }
            else if blocked > 0 && running == 0 && pending == 0 { state = "blocked" }
            else if running > 0 || succeeded > 0 || failed > 0 { state = "running" }
            else { state = "queued" }
            return ShotListStatus(
                id: try row.decode("id"), project: try row.decode("project"), name: try row.decode("name"), state: state,
                shots: try row.decode("shots"), jobsTotal: total, jobsSucceeded: succeeded, jobsFailed: failed,
                jobsRunning: running, jobsCancelled: try row.decode("jobs_cancelled"), progress: try row.decode("progress"),
                estimatedCredits: try row.decode("estimated_credits"), spentCredits: try row.decode("spent_credits"),
                budgetCredits: try row.decode("budget_credits", as: Int64?.self), reservedCredits: try row.decode("reserved_credits"),
                jobsBlocked: blocked, sourcePath: try row.decode("source_path"),
                createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
        }
    }

    /// A shot list's shots and jobs, by name.
    public func shotListDetail(name: String, project: String?) throws -> ShotListDetail {
        let resolved = try resolveShotList(name: name, project: project)
        guard let list = try shotLists(name: name, project: resolved.project).first(where: { $0.id == resolved.id }) else {
            throw StoreError.noSuchShotList(name: name, project: project)
        }
        let shots = try connection.execute("""
            SELECT p.shot, p.state, p.frames, p.fps_num, p.fps_den, p.resolution, p.aspect, p.jobs_total, p.jobs_succeeded,
                   p.jobs_failed, p.jobs_running, p.progress, p.estimated_credits, p.spent_credits, p.failure,
                   p.review_state, p.review_note, p.jobs_reused::int AS jobs_reused, p.draft,
                   COALESCE((SELECT array_agg(w.name ORDER BY w.name) FROM keyfarm.worker_shot_failures b
                             JOIN keyfarm.workers w ON w.id = b.worker_id
                             WHERE b.shot_id = p.shot_id AND b.blocked_at IS NOT NULL), '{}') AS blocklisted
            FROM keyfarm.v_shot_progress p WHERE p.shot_list_id = $1 ORDER BY p.position
            """, [resolved.id]).rows.map { row in
            let num: Int = try row.decode("fps_num"), den: Int = try row.decode("fps_den")
            return ShotStatus(
                key: try row.decode("shot"), state: try row.decode("state"), frames: try row.decode("frames"),
                fps: den == 1 ? "\(num)" : "\(num)/\(den)", resolution: try row.decode("resolution"),
                aspect: try row.decode("aspect"), jobsTotal: try row.decode("jobs_total"),
                jobsSucceeded: try row.decode("jobs_succeeded"), jobsFailed: try row.decode("jobs_failed"),
                jobsRunning: try row.decode("jobs_running"), progress: try row.decode("progress"),
                estimatedCredits: try row.decode("estimated_credits"), spentCredits: try row.decode("spent_credits"),
                failure: try row.decode("failure", as: String?.self),
                blocklistedWorkers: try row.decode("blocklisted"), reviewState: try row.decode("review_state"),
                reviewNote: try row.decode("review_note", as: String?.self), jobsReused: try row.decode("jobs_reused"),
                draft: try row.decode("draft"))
        }
        let jobs = try connection.execute("""
            SELECT id, shot, job_key, kind, segment_index, part, parts, start_frame, end_frame, engine, state, priority,
                   attempts, max_attempts, worker, progress::float8 AS progress, estimated_credits, spent_credits,
                   COALESCE(blocked_reason, last_error) AS last_error, not_before,
                   \(Self.reusedFrom("v")) AS reused_from
            FROM keyfarm.v_jobs v WHERE shot_list_id = $1 ORDER BY id
            """, [resolved.id]).rows.map { row in
            JobStatus(
                id: try row.decode("id"), shot: try row.decode("shot"), key: try row.decode("job_key"),
                kind: try row.decode("kind"), segmentIndex: try row.decode("segment_index", as: Int?.self),
                part: try row.decode("part"), parts: try row.decode("parts"), startFrame: try row.decode("start_frame"),
                endFrame: try row.decode("end_frame"), engine: try row.decode("engine", as: String?.self),
                state: try row.decode("state"), priority: try row.decode("priority"), attempts: try row.decode("attempts"),
                maxAttempts: try row.decode("max_attempts"), worker: try row.decode("worker", as: String?.self),
                progress: try row.decode("progress"), estimatedCredits: try row.decode("estimated_credits"),
                spentCredits: try row.decode("spent_credits"), lastError: try row.decode("last_error", as: String?.self),
                notBefore: try row.decode("not_before"), reusedFrom: try row.decode("reused_from", as: String?.self))
        }
        let drafts = try connection.execute("""
            SELECT DISTINCT ON (o.shot, o.position) o.shot, o.format, o.path, o.frames, o.bytes, o.sha256, o.stitched_at,
                   o.storage_root, l.revision
            FROM keyfarm.v_outputs o JOIN keyfarm.shot_lists l ON l.id = o.shot_list_id
            WHERE l.project = $2 AND l.name = $3 AND l.id <> $1 AND o.path LIKE '%/draft/%'
              AND o.shot IN (SELECT shot_key FROM keyfarm.shots WHERE shot_list_id = $1 AND NOT draft)
            ORDER BY o.shot, o.position, l.revision DESC
            """, [resolved.id, list.project, list.name]).rows.map { row in
            ShotOutput(shot: try row.decode("shot"), format: try row.decode("format"), path: try row.decode("path"),
                       frames: try row.decode("frames"), bytes: try row.decode("bytes"),
                       sha256: try row.decode("sha256", as: String?.self) ?? "",
                       stitchedAt: try row.decode("stitched_at", as: Date?.self),
                       storageRoot: try row.decode("storage_root", as: String?.self), revision: try row.decode("revision"))
        }
        return ShotListDetail(list: list, shots: shots, jobs: jobs, outputs: try outputs(listID: resolved.id), drafts: drafts)
    }

    /// The deliverables of a shot list's stitched shots, by name.
    public func outputs(name: String, project: String?) throws -> (list: ShotListStatus, outputs: [ShotOutput]) {
        let resolved = try resolveShotList(name: name, project: project)
        guard let list = try shotLists(name: name, project: resolved.project).first(where: { $0.id == resolved.id }) else {
            throw StoreError.noSuchShotList(name: name, project: project)
        }
        return (list, try outputs(listID: resolved.id))
    }

    func outputs(listID: Int64) throws -> [ShotOutput] {
        try connection.execute("""
            SELECT shot, format, path, frames, bytes, sha256, stitched_at, storage_root FROM keyfarm.v_outputs
            WHERE shot_list_id = $1 ORDER BY shot_position, position
            """, [listID]).rows.map { row in
            ShotOutput(shot: try row.decode("shot"), format: try row.decode("format"), path: try row.decode("path"),
                       frames: try row.decode("frames"), bytes: try row.decode("bytes"),
                       sha256: try row.decode("sha256", as: String?.self) ?? "",
                       stitchedAt: try row.decode("stitched_at", as: Date?.self),
                       storageRoot: try row.decode("storage_root", as: String?.self))
        }
    }

    /// Cancels a shot list's unfinished jobs in one transaction.
    public func cancel(name: String, project: String?) throws -> CancelReceipt {
        try connection.transaction { connection in
            let resolved = try resolveShotList(name: name, project: project)
            let state = try rows(connection.execute("SELECT state FROM keyfarm.shot_lists WHERE id = $1 FOR UPDATE",
                                                    [resolved.id]).rows).decode("state", as: String.self)
            let counts = try retire(listID: resolved.id, as: "cancelled", on: connection)
            return CancelReceipt(shotListID: resolved.id, cancelledJobs: counts.cancelled,
                                 interruptedJobs: counts.interrupted, wasAlreadyCancelled: state == "cancelled")
        }
    }
}
