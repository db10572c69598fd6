import Foundation
import KeyfarmCore
import KeyfarmPostgres

/// What `keyfarm watch` shows at one moment: the watched shot lists and the farm's workers.
public struct WatchSnapshot: Sendable, Equatable {
    public var lists: [WatchedList]
    public var workers: [WorkerStatus]

    public init(lists: [WatchedList], workers: [WorkerStatus]) {
        self.lists = lists
        self.workers = workers
    }

    /// The workers connected now: neither lost nor offline.
    public var connectedWorkers: [WorkerStatus] { workers.filter { !["lost", "offline"].contains($0.state) } }
}

/// One shot list as `keyfarm watch` follows it.
public struct WatchedList: Sendable, Equatable {
    public var status: ShotListStatus
    public var shots: [WatchedShot]
    /// Its work by engine, with measured attempt times, for the ETA.
    public var work: [CompletionEstimate.EngineWork]
    /// Workers running its jobs now, by name, with how many each.
    public var workers: [WorkerShare]
    /// Jobs queued again after a failure, waiting out their back-off.
    public var retrying: Int
    /// Its project's budget, when the project has one.
    public var projectBudget: ProjectBudget?

    public init(status: ShotListStatus, shots: [WatchedShot], work: [CompletionEstimate.EngineWork] = [],
                workers: [WorkerShare] = [], retrying: Int = 0, projectBudget: ProjectBudget? = nil) {
        self.status = status
        self.shots = shots
        self.work = work
        self.workers = workers
        self.retrying = retrying
        self.projectBudget = projectBudget
    }

    public var estimate: CompletionEstimate { CompletionEstimate(work) }

    public struct WorkerShare: Sendable, Equatable {
        public var name: String
        public var jobs: Int

        public init(name: String, jobs: Int) {
            self.name = name
            self.jobs = jobs
        }
    }

    public struct ProjectBudget: Sendable, Equatable {
        public var credits: Int64
        public var spent: Int64
        public var reserved: Int64

        public init(credits: Int64, spent: Int64, reserved: Int64) {
            self.credits = credits
            self.spent = spent
            self.reserved = reserved
        }
    }
}

/// One shot of a watched list: its progress and its segments by state.
public struct WatchedShot: Sendable, Equatable {
    public var key: String
    public var state: String
    /// 0...1, as `v_shot_progress` weighs it (running fractions included).
    public var progress: Double
    public var frames: Int
    /// Segments by state (`succeeded`, `running`, `queued`, `retry_wait`, ...): a segment split
    /// into parts is in the state of its first unfinished part.
    public var segments: [String: Int]
    /// The stitch job's state, or nil for shots without one (smoke lists).
    public var stitch: String?
    public var failure: String?
    /// The reviewer's verdict on the stitched shot: `pending`, `approved` or `rejected`.
    public var review = "pending"

    public init(key: String, state: String, progress: Double, frames: Int, segments: [String: Int], stitch: String?,
                failure: String?, review: String = "pending") {
        self.review = review
        self.key = key
        self.state = state
        self.progress = progress
        self.frames = frames
        self.segments = segments
        self.stitch = stitch
        self.failure = failure
    }
}

extension FarmStore {
    /// The channel the coordinator announces job changes on: after each reactor turn that
    /// changed jobs (leased, accepted, progress, results, losses), one notification per shot
    /// list it touched, whose payload is the list's id. `keyfarm watch` listens to it.
    public static let progressChannel = "keyfarm_progress"

    /// Announces, on `progressChannel`, the shot lists of the given jobs: one notification per
    /// list, delivered when the caller's transaction commits. One statement, whatever the count.
    public func announceProgress(jobIDs: [Int64]) throws {
        guard !jobIDs.isEmpty else { return }
        try connection.execute("""
            SELECT pg_notify($1, l.shot_list_id::text)
            FROM (SELECT DISTINCT shot_list_id FROM keyfarm.jobs WHERE id = ANY($2::bigint[])) l
            """, [FarmStore.progressChannel, jobIDs], prepared: true)
    }

    /// The ids of shot lists (of `project`, when given) with unfinished work (queued, waiting,
    /// blocked, leased or running jobs) that were neither cancelled nor replaced, oldest first.
    public func activeShotListIDs(project: String? = nil) throws -> [Int64] {
        try connection.execute("""
            SELECT l.id FROM keyfarm.shot_lists l
            WHERE l.state = 'active' AND ($1::text IS NULL OR l.project = $1)
              AND EXISTS (SELECT 1 FROM keyfarm.jobs j WHERE j.shot_list_id = l.id
                          AND j.state IN ('waiting', 'queued', 'blocked', 'leased', 'running'))
            ORDER BY l.created_at, l.id
            """, [project]).rows.map { try $0.decode("id", as: Int64.self) }
    }

    /// What `keyfarm watch` shows of the given shot lists (in the order given), and every worker.
    public func watchSnapshot(listIDs: [Int64]) throws -> WatchSnapshot {
        let statuses = Dictionary(uniqueKeysWithValues: try shotLists(includeReplaced: true, ids: listIDs).map { ($0.id, $0) })
        var shots: [Int64: [WatchedShot]] = [:]
        var segments: [Int64: [String: Int]] = [:]
        var retrying: [Int64: Int] = [:]
        if !listIDs.isEmpty {
            // A segment's state is its first unfinished part's; other jobs (smoke) count one each.
            for row in try connection.execute("""
                SELECT shot_id, shot_list_id, state, count(*) AS n FROM (
                    SELECT DISTINCT ON (j.shot_id, COALESCE(j.segment_index, -j.id)) j.shot_id, j.shot_list_id,
                           CASE WHEN j.state = 'queued' AND j.not_before > now() THEN 'retry_wait' ELSE j.state END AS state
                    FROM keyfarm.jobs j
                    WHERE j.shot_list_id = ANY($1::bigint[]) AND j.kind <> 'stitch'
                    ORDER BY j.shot_id, COALESCE(j.segment_index, -j.id), j.state = 'succeeded', j.part
                ) s GROUP BY shot_id, shot_list_id, state
                """, [listIDs]).rows {
                let state: String = try row.decode("state")
                segments[try row.decode("shot_id", as: Int64.self), default: [:]][state] = try row.decode("n", as: Int.self)
                if state == "retry_wait" { retrying[try row.decode("shot_list_id", as: Int64.self), default: 0] += try row.decode("n", as: Int.self) }
            }
            for row in try connection.execute("""
                SELECT p.shot_id, p.shot_list_id, p.shot, p.state, p.progress, p.frames, p.failure, p.review_state,
                       (SELECT CASE WHEN sj.state = 'queued' AND sj.not_before > now() THEN 'retry_wait' ELSE sj.state END
                          FROM keyfarm.jobs sj WHERE sj.shot_id = p.shot_id AND sj.kind = 'stitch' LIMIT 1) AS stitch
                FROM keyfarm.v_shot_progress p WHERE p.shot_list_id = ANY($1::bigint[])
                ORDER BY p.shot_list_id, p.position
                """, [listIDs]).rows {
                let shotID: Int64 = try row.decode("shot_id")
                shots[try row.decode("shot_list_id", as: Int64.self), default: []].append(WatchedShot(
                    key: try row.decode("shot"), state: try row.decode("state"), progress: try row.decode("progress"),
                    frames: try row.decode("frames"), segments: segments[shotID] ?? [:],
                    stitch: try row.decode("stitch", as: String?.self), failure: try row.decode("failure", as: String?.self),
                    review: try row.decode("review_state")))
            }
        }
        let work = try engineWork(listIDs: listIDs)
        let shares = try workerShares(listIDs: listIDs)
        let budgets = Dictionary(try projectBudgets().map { ($0.project, WatchedList.ProjectBudget(
            credits: $0.budget, spent: $0.spent, reserved: $0.reserved)) }, uniquingKeysWith: { first, _ in first })
        let lists = listIDs.compactMap { id -> WatchedList? in
            guard let status = statuses[id] else { return nil }
            return WatchedList(status: status, shots: shots[id] ?? [], work: work[id] ?? [], workers: shares[id] ?? [],
                               retrying: retrying[id] ?? 0, projectBudget: budgets[status.project])
        }
        return WatchSnapshot(lists: lists, workers: try workers())
    }

    /// Each list's work by engine: unfinished and running jobs, and the mean time (lease to
    /// result) of its succeeded attempts.
    private func engineWork(listIDs: [Int64]) throws -> [Int64: [CompletionEstimate.EngineWork]] {
        guard !listIDs.isEmpty else { return [:] }
        var work: [Int64: [CompletionEstimate.EngineWork]] = [:]
        for row in try connection.execute("""
            WITH jobs AS (
                SELECT j.shot_list_id, COALESCE(j.engine, j.kind) AS engine,
                       count(*) FILTER (WHERE j.state NOT IN ('succeeded', 'failed', 'cancelled')) AS unfinished,
                       COALESCE(sum(1 - LEAST(j.progress, 1)) FILTER (WHERE j.state NOT IN ('succeeded', 'failed', 'cancelled')), 0)::float8 AS remaining,
                       count(*) FILTER (WHERE j.state IN ('leased', 'running')) AS running
                FROM keyfarm.jobs j WHERE j.shot_list_id = ANY($1::bigint[])
                GROUP BY 1, 2
            ), measured AS (
                SELECT j.shot_list_id, COALESCE(j.engine, j.kind) AS engine, count(*) AS n,
                       avg(extract(epoch FROM a.finished_at - a.started_at))::float8 AS seconds
                FROM keyfarm.attempts a JOIN keyfarm.jobs j ON j.id = a.job_id
                WHERE j.shot_list_id = ANY($1::bigint[]) AND a.outcome = 'succeeded' AND a.finished_at IS NOT NULL
                GROUP BY 1, 2
            )
            SELECT jobs.shot_list_id, jobs.engine, jobs.unfinished, jobs.remaining, jobs.running,
                   COALESCE(measured.n, 0) AS measured, measured.seconds
            FROM jobs LEFT JOIN measured USING (shot_list_id, engine)
            ORDER BY jobs.shot_list_id, jobs.engine
            """, [listIDs]).rows {
            work[try row.decode("shot_list_id", as: Int64.self), default: []].append(CompletionEstimate.EngineWork(
                engine: try row.decode("engine"), unfinishedJobs: try row.decode("unfinished"),
                remainingJobs: try row.decode("remaining"), runningJobs: try row.decode("running"),
                measuredJobs: try row.decode("measured"), meanSeconds: try row.decode("seconds", as: Double?.self)))
        }
        return work
    }

    private func workerShares(listIDs: [Int64]) throws -> [Int64: [WatchedList.WorkerShare]] {
        guard !listIDs.isEmpty else { return [:] }
        var shares: [Int64: [WatchedList.WorkerShare]] = [:]
        for row in try connection.execute("""
            SELECT j.shot_list_id, w.name, count(*) AS n
            FROM keyfarm.jobs j JOIN keyfarm.workers w ON w.id = j.worker_id
            WHERE j.shot_list_id = ANY($1::bigint[]) AND j.state IN ('leased', 'running')
            GROUP BY 1, 2 ORDER BY 1, 2
            """, [listIDs]).rows {
            shares[try row.decode("shot_list_id", as: Int64.self), default: []].append(
                WatchedList.WorkerShare(name: try row.decode("name"), jobs: try row.decode("n")))
        }
        return shares
    }
}
