import Foundation
import KeyfarmCore
import KeyfarmPostgres

/// A worker as `keyfarm workers` and `v_workers` show it.
public struct WorkerStatus: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var host: String?
    public var version: String?
    public var engines: [String]
    public var slots: Int
    public var state: String
    public var draining: Bool
    public var runningJobs: Int
    public var succeededAttempts: Int
    public var failedAttempts: Int
    public var lastSeenAt: Date?
    public var blocklistedShots: [String]
    /// Where the worker mounts the farm's storage, as its HELLO said.
    public var storageRoot: String? = nil
}

extension FarmStore {
    /// The channel drains and undrains are announced on; payload: the worker's name.
    public static let workersChannel = "keyfarm_workers"

    /// Records a worker that said HELLO; returns its id and whether an operator drained it.
    public func connectWorker(name: String, host: String?, version: String?, engines: [String], slots: Int,
                              instance: String?, storageRoot: String? = nil) throws -> (id: Int64, draining: Bool) {
        let row = try rows(connection.execute("""
            INSERT INTO keyfarm.workers (name, host, version, engines, slots, state, connected_at, last_seen_at, instance, storage_root)
            VALUES ($1, $2, $3, $4::text[], $5, 'ready', now(), now(), $6, $7)
            ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, version = EXCLUDED.version, engines = EXCLUDED.engines,
                slots = EXCLUDED.slots, connected_at = now(), last_seen_at = now(), instance = EXCLUDED.instance,
                storage_root = EXCLUDED.storage_root,
                state = CASE WHEN keyfarm.workers.draining THEN 'draining' ELSE 'ready' END
            RETURNING id, draining
            """, [name, host, version, engines, slots, instance, storageRoot]).rows)
        return (try row.decode("id"), try row.decode("draining"))
    }

    /// Sets workers' states (`ready`, `busy`, `draining`, `lost`, `offline`) and last-seen times.
    public func setWorkerStates(_ states: [(id: Int64, state: String)]) throws {
        guard !states.isEmpty else { return }
        try connection.execute("""
            UPDATE keyfarm.workers w SET state = u.state, last_seen_at = now()
            FROM unnest($1::bigint[], $2::text[]) AS u(id, state) WHERE w.id = u.id
            """, [states.map(\.id), states.map(\.state)], prepared: true)
    }

    /// The operator's drain: the coordinator stops giving the worker work. False when no such worker.
    public func setDraining(workerName: String, _ draining: Bool) throws -> Bool {
        try connection.transaction { connection in
            let updated = try connection.execute("""
                UPDATE keyfarm.workers SET draining = $2,
                       state = CASE WHEN state IN ('lost', 'offline') THEN state WHEN $2 THEN 'draining' ELSE 'ready' END
                WHERE name = $1
                """, [workerName, draining]).affectedRows
            if updated > 0 { try connection.notify(FarmStore.workersChannel, payload: workerName) }
            return updated > 0
        }
    }

    public func isDraining(workerName: String) throws -> Bool {
        try connection.execute("SELECT draining FROM keyfarm.workers WHERE name = $1", [workerName])
            .rows.first?.decode("draining", as: Bool.self) ?? false
    }

    public func workers() throws -> [WorkerStatus] {
        try connection.execute("""
            SELECT id, name, host, version, engines, slots, state, draining, running_jobs, succeeded_attempts,
                   failed_attempts, last_seen_at, blocklisted_shots, storage_root
            FROM keyfarm.v_workers ORDER BY name
            """).rows.map { row in
            WorkerStatus(id: try row.decode("id"), name: try row.decode("name"), host: try row.decode("host", as: String?.self),
                         version: try row.decode("version", as: String?.self), engines: try row.decode("engines"),
                         slots: try row.decode("slots"), state: try row.decode("state"), draining: try row.decode("draining"),
                         runningJobs: try row.decode("running_jobs"), succeededAttempts: try row.decode("succeeded_attempts"),
                         failedAttempts: try row.decode("failed_attempts"),
                         lastSeenAt: try row.decode("last_seen_at", as: Date?.self),
                         blocklistedShots: try row.decode("blocklisted_shots"),
                         storageRoot: try row.decode("storage_root", as: String?.self))
        }
    }

    /// Every job leased to or running on a worker (or on one worker), for adoption.
    public func leases(workerID: Int64? = nil) throws -> [Lease] {
        try connection.execute("""
            SELECT j.id, j.attempts, j.worker_id, w.name, j.max_attempts, j.attempts - j.attempt_base AS in_round,
                   j.engine, j.kind
            FROM keyfarm.jobs j JOIN keyfarm.workers w ON w.id = j.worker_id
            WHERE j.state IN ('leased', 'running') AND ($1::bigint IS NULL OR j.worker_id = $1) ORDER BY j.id
            """, [workerID]).rows.map { row in
            Lease(ref: AttemptRef(jobID: try row.decode("id"), attempt: try row.decode("attempts")),
                  workerID: try row.decode("worker_id"), workerName: try row.decode("name"),
                  maxAttempts: try row.decode("max_attempts"), attemptInRound: try row.decode("in_round"),
                  engine: try row.decode("engine", as: String?.self), kind: try row.decode("kind"))
        }
    }

    /// Marks attempts as running (the worker sent ACCEPTED), with when the worker received
    /// the ASSIGN (microseconds since 1970 on its clock; 0 when unknown).
    public func markRunning(_ accepted: [(ref: AttemptRef, receivedAtMicroseconds: Int64)]) throws {
        guard !accepted.isEmpty else { return }
        try connection.execute("""
            WITH u AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS u(id, attempt, received)),
            jobs AS (
                UPDATE keyfarm.jobs j SET state = 'running', updated_at = now()
                FROM u WHERE j.id = u.id AND j.attempts = u.attempt AND keyfarm.state_in(j.state, '{leased}')
            )
            UPDATE keyfarm.attempts a SET received_at = to_timestamp(u.received / 1e6)
            FROM u WHERE a.job_id = u.id AND a.attempt = u.attempt AND u.received > 0
            """, [accepted.map(\.ref.jobID), accepted.map(\.ref.attempt), accepted.map(\.receivedAtMicroseconds)], prepared: true)
    }

    /// Records the latest progress of running attempts.
    public func recordProgress(_ updates: [(ref: AttemptRef, fraction: Double)]) throws {
        guard !updates.isEmpty else { return }
        try connection.execute("""
            UPDATE keyfarm.jobs j SET progress = LEAST(GREATEST(u.fraction, 0), 1)::real, updated_at = now()
            FROM unnest($1::bigint[], $2::int[], $3::float8[]) AS u(id, attempt, fraction)
            WHERE j.id = u.id AND j.attempts = u.attempt AND keyfarm.state_in(j.state, '{leased,running}')
            """, [updates.map(\.ref.jobID), updates.map(\.ref.attempt), updates.map(\.fraction)], prepared: true)
    }

    /// Stores a provider's request id with its attempt, before the worker may poll it.
    public func recordProviderRequest(_ ref: AttemptRef, provider: String, requestID: String) throws {
        try connection.execute("""
            UPDATE keyfarm.attempts SET provider = COALESCE(NULLIF($3, ''), provider), provider_request_id = $4
            WHERE job_id = $1 AND attempt = $2
            """, [ref.jobID, ref.attempt, provider, requestID])
    }

    /// Extends the leases of every job held by live workers.
    public func renewLeases(workerIDs: [Int64], seconds: Double) throws {
        guard !workerIDs.isEmpty else { return }
        try connection.execute("""
            UPDATE keyfarm.jobs SET lease_expires_at = now() + make_interval(secs => $2::float8)
            WHERE worker_id = ANY($1::bigint[]) AND state IN ('leased', 'running')
            """, [workerIDs, seconds], prepared: true)
    }

    /// The ids of a shot list's jobs that are cancelled, for telling workers to stop them.
    public func cancelledJobIDs(shotListID: Int64) throws -> Set<Int64> {
        Set(try connection.execute("SELECT id FROM keyfarm.jobs WHERE shot_list_id = $1 AND state = 'cancelled'",
                                   [shotListID]).rows.map { try $0.decode("id", as: Int64.self) })
    }

    /// Requeues a shot list's failed jobs (or one job, by key) with a fresh round of attempts;
    /// jobs that failed only because a dependency did wait for it again. With `fresh`, no
    /// attempt resumes a provider request an earlier attempt submitted. Returns the count.
    public func retryFailed(name: String, project: String?, jobKey: String?, fresh: Bool = false) throws -> Int {
        try connection.transaction { connection in
            let list = try resolveShotList(name: name, project: project)
            let requeued = try connection.execute("""
                WITH target AS (
                    SELECT id FROM keyfarm.jobs
                    WHERE shot_list_id = $1 AND state = 'failed' AND ($2::text IS NULL OR job_key = $2)
                )
                UPDATE keyfarm.jobs j
                SET attempt_base = j.attempts, retried_after_attempt = j.attempts, not_before = now(),
                    fresh_after_attempt = CASE WHEN $3::boolean THEN j.attempts ELSE j.fresh_after_attempt END, finished_at = NULL, updated_at = now(),
                    last_error = NULL, last_error_class = NULL, worker_id = NULL, progress = 0,
                    pending_dependencies = (SELECT count(*) FROM keyfarm.job_dependencies d
                                            JOIN keyfarm.jobs dj ON dj.id = d.depends_on
                                            WHERE d.job_id = j.id AND dj.state <> 'succeeded'),
                    state = CASE WHEN EXISTS (SELECT 1 FROM keyfarm.job_dependencies d JOIN keyfarm.jobs dj ON dj.id = d.depends_on
                                              WHERE d.job_id = j.id AND dj.state <> 'succeeded'
                                                AND dj.id NOT IN (SELECT id FROM target))
                                 THEN 'failed'
                                 WHEN EXISTS (SELECT 1 FROM keyfarm.job_dependencies d JOIN keyfarm.jobs dj ON dj.id = d.depends_on
                                              WHERE d.job_id = j.id AND dj.state <> 'succeeded')
                                 THEN 'waiting' ELSE 'queued' END,
                    queued_at = now()
                FROM target WHERE j.id = target.id
                RETURNING j.id, j.state
                """, [list.id, jobKey, fresh]).rows
            let moved = try requeued.filter { try $0.decode("state", as: String.self) != "failed" }.count
            if jobKey != nil && moved == 0 {
                throw StoreError.noSuchShotList(name: "\(name): no failed job \(jobKey!) whose dependencies can run", project: project)
            }
            try connection.notify(FarmStore.jobsChannel, payload: "submitted:\(list.id)")
            return moved
        }
    }

    /// Queues a shot list of `count` smoke jobs that each take `milliseconds` on a worker and
    /// fail (a transient error) on their first `failAttempts` attempts, or with probability
    /// `failRate`, for testing a farm end to end.
    public func enqueueSmoke(name: String, project: String, count: Int, milliseconds: Int, failRate: Double,
                             failAttempts: Int = 0, priority: Int, maxAttempts: Int, replace: Bool) throws -> SubmitReceipt {
        try connection.transaction { connection in
            var replacedID: Int64?
            if let old = try connection.execute("""
                SELECT id FROM keyfarm.shot_lists WHERE project = $1 AND name = $2 AND state <> 'replaced' FOR UPDATE
                """, [project, name]).rows.first {
                let id = try old.decode("id", as: Int64.self)
                guard replace else { throw StoreError.shotListExists(project: project, name: name, id: id) }
                try retire(listID: id, as: "replaced", on: connection)
                replacedID = id
            }
            let failing = failAttempts > 0 ? #", "fail_attempts": \#(failAttempts)"# : ""
            let plan = #"{"kind": "smoke", "jobs": \#(count), "ms": \#(milliseconds), "fail_rate": \#(failRate)\#(failing)}"#
            let listID = try rows(connection.execute("""
                INSERT INTO keyfarm.shot_lists (project, name, source_path, source_sha256, plan)
                VALUES ($1, $2, 'keyfarm smoke', encode(sha256(convert_to($3, 'UTF8')), 'hex'), $3::jsonb)
                RETURNING id
                """, [project, name, plan]).rows).decode("id", as: Int64.self)
            let shotID = try rows(connection.execute("""
                INSERT INTO keyfarm.shots (shot_list_id, position, shot_key, duration_seconds, fps_num, fps_den, frames,
                                           resolution, aspect, width, height, outputs, seam, priority, max_attempts)
                VALUES ($1, 0, 'smoke', 1, 24, 1, 24, '540p', '16:9', 960, 540, '{}', 0, $2, $3)
                RETURNING id
                """, [listID, priority, maxAttempts]).rows).decode("id", as: Int64.self)
            let spec = SmokeSpec(ms: milliseconds, failRate: failRate, failAttempts: failAttempts).json
            let inserted = try connection.execute("""
                INSERT INTO keyfarm.jobs (shot_list_id, shot_id, job_key, kind, start_frame, end_frame, requires, spec,
                                          state, priority, max_attempts, queued_at)
                SELECT $1, $2, 'smoke/' || n, 'smoke', 0, 0, 'smoke', $3::jsonb, 'queued', $4, $5, now()
                FROM generate_series(1, $6::int) AS n
                """, [listID, shotID, spec, priority, maxAttempts, count]).affectedRows
            try connection.notify(FarmStore.jobsChannel, payload: "submitted:\(listID)")
            return SubmitReceipt(shotListID: listID, project: project, name: name, shots: 1, jobs: inserted,
                                 replacedID: replacedID)
        }
    }
}
