import Foundation
import KeyfarmCore
import KeyfarmPostgres

/// Whether a completion changed the job, or arrived for an attempt that no longer owns it.
public enum CompletionOutcome: Sendable, Equatable {
    /// The job moved on; `released` lists the jobs that became ready because of it.
    case applied(released: [Int64])
    /// The job was scheduled for another attempt, not before the given time.
    case retrying(notBefore: Date)
    /// The job failed for good; `alsoFailed` lists dependants that can now never run.
    case failed(alsoFailed: [Int64])
    /// The attempt had already been completed, lost or cancelled: nothing changed except that
    /// credits it reports are still recorded.
    case stale
}

extension FarmStore {
    /// Leases up to `limit` ready jobs that a worker with `capabilities` can run, highest
    /// priority first, then oldest; each gets a new attempt row. Concurrent claimers never get
    /// the same job (`FOR UPDATE SKIP LOCKED`). A capability is an engine name, `provider/*`
    /// for every model of a provider, `stitch`, or `*`.
    public func claim(workerID: Int64, capabilities: [String], limit: Int, leaseSeconds: Double) throws -> [ClaimedJob] {
        guard limit > 0 else { return [] }
        return try claim(slots: Array(repeating: workerID, count: limit), capabilities: capabilities,
                         leaseSeconds: leaseSeconds).map(\.job)
    }

    /// Claims for many workers with the same capabilities in one statement: `slots` holds a
    /// worker id per free slot (interleaved, so that a few jobs spread across workers), and the
    /// highest-priority ready jobs are paired with them in order. A job the blocklist keeps off
    /// its slot's worker takes a slot left over whose worker may run it, if there is one.
    /// Returns each claimed job's worker.
    public func claim(slots: [Int64], capabilities: [String], leaseSeconds: Double) throws -> [(workerID: Int64, job: ClaimedJob)] {
        guard !slots.isEmpty, !capabilities.isEmpty else { return [] }
        let rows = try connection.execute("""
            WITH slots AS (
                SELECT s.worker_id, s.ord FROM unnest($1::bigint[]) WITH ORDINALITY AS s(worker_id, ord)
            ), room AS (
                -- How many more generations each limited provider may start now: its concurrency
                -- limit less its jobs in flight, and its creates a minute less the last minute's
                -- attempts; none while the provider has suspended the account.
                SELECT pa.provider, CASE WHEN pa.suspended_at IS NOT NULL THEN 0
                                         ELSE LEAST(COALESCE(pa.max_concurrent - pa.in_flight, 2147483647),
                                                    COALESCE(pa.creates_per_minute - pa.started_last_minute, 2147483647)) END AS room
                FROM keyfarm.v_provider_accounts pa
                WHERE pa.max_concurrent IS NOT NULL OR pa.creates_per_minute IS NOT NULL OR pa.suspended_at IS NOT NULL
            ), picked AS (
                -- A job that reuses an earlier generation starts none: no provider limit applies to it.
                SELECT j.id, j.priority, j.queued_at, j.shot_id,
                       CASE WHEN NOT j.reusing THEN split_part(j.requires, '/', 1) END AS provider FROM keyfarm.jobs j
                WHERE j.state = 'queued' AND j.not_before <= now()
                  AND (j.requires = ANY($2::text[])
                       OR split_part(j.requires, '/', 1) || '/*' = ANY($2::text[])
                       OR '*' = ANY($2::text[]))
                  -- A provider at its limit: its jobs stay queued, and others' go ahead of them.
                  AND (j.reusing
                       OR NOT EXISTS (SELECT 1 FROM room WHERE room.provider = split_part(j.requires, '/', 1) AND room.room <= 0))
                ORDER BY j.priority DESC, j.queued_at, j.id
                LIMIT $4
                FOR UPDATE SKIP LOCKED
            ), within AS (
                -- No more of a limited provider's jobs in this claim than its room.
                SELECT p.* FROM (
                    SELECT p.*, row_number() OVER (PARTITION BY p.provider ORDER BY p.priority DESC, p.queued_at, p.id) AS rank
                    FROM picked p
                ) p LEFT JOIN room ON room.provider = p.provider
                WHERE room.room IS NULL OR p.rank <= room.room
            ), ranked AS (
                SELECT p.id, p.shot_id, row_number() OVER (ORDER BY p.priority DESC, p.queued_at, p.id) AS ord FROM within p
            ), straight AS (
                -- The n-th job on the n-th slot, unless the blocklist keeps that worker off its shot.
                SELECT n.id, n.ord, s.worker_id, s.ord AS slot FROM ranked n JOIN slots s ON s.ord = n.ord
                WHERE NOT EXISTS (SELECT 1 FROM keyfarm.worker_shot_failures b
                                  WHERE b.worker_id = s.worker_id AND b.shot_id = n.shot_id AND b.blocked_at IS NOT NULL)
            ), rehomed AS (
                -- A job the blocklist kept off its slot takes the first slot left over whose worker
                -- may run it (one job a slot; a job that loses that race waits for the next claim).
                -- Without this, the same pairing would repeat on every claim and starve the job.
                SELECT DISTINCT ON (c.slot) c.id, c.ord, c.worker_id, c.slot FROM (
                    SELECT DISTINCT ON (n.id) n.id, n.ord, s.worker_id, s.ord AS slot
                    FROM ranked n JOIN slots s ON s.ord NOT IN (SELECT slot FROM straight)
                    WHERE n.id NOT IN (SELECT id FROM straight)
                      AND NOT EXISTS (SELECT 1 FROM keyfarm.worker_shot_failures b
                                      WHERE b.worker_id = s.worker_id AND b.shot_id = n.shot_id AND b.blocked_at IS NOT NULL)
                    ORDER BY n.id, s.ord
                ) c ORDER BY c.slot, c.ord
            ), paired AS (
                SELECT id, ord, worker_id FROM straight
                UNION ALL
                SELECT id, ord, worker_id FROM rehomed
            ), priced AS (
                -- Each job's estimate on top of what its list and project have spent or reserved,
                -- and of the jobs before it in this claim.
                SELECT p.id, p.worker_id, j.estimated_credits AS estimate, l.budget_credits AS list_budget,
                       l.spent_credits + l.reserved_credits
                           + sum(j.estimated_credits) OVER (PARTITION BY j.shot_list_id ORDER BY p.ord) AS list_total,
                       pb.budget_credits AS project_budget,
                       -- Only a project with a budget needs its lists' totals (a scan per claimed job otherwise).
                       CASE WHEN pb.budget_credits IS NOT NULL
                            THEN (SELECT COALESCE(sum(l2.spent_credits + l2.reserved_credits), 0) FROM keyfarm.shot_lists l2
                                   WHERE l2.project = l.project)
                                 + sum(j.estimated_credits) OVER (PARTITION BY l.project ORDER BY p.ord)
                       END AS project_total
                FROM paired p JOIN keyfarm.jobs j ON j.id = p.id JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
                LEFT JOIN keyfarm.project_budgets pb ON pb.project = l.project
            ), verdict AS (
                SELECT *, estimate = 0 OR ((list_budget IS NULL OR list_total <= list_budget)
                                           AND (project_budget IS NULL OR project_total <= project_budget)) AS fits
                FROM priced
            ), blocked AS (
                UPDATE keyfarm.jobs j SET state = 'blocked', updated_at = now(),
                       blocked_reason = CASE
                           WHEN v.list_budget IS NOT NULL AND v.list_total > v.list_budget
                           THEN 'budget: needs ' || v.estimate || ' credits, ' || GREATEST(v.list_budget - v.list_total + v.estimate, 0)
                                || ' of the shot list''s ' || v.list_budget || ' left'
                           ELSE 'project budget: needs ' || v.estimate || ' credits, '
                                || GREATEST(v.project_budget - v.project_total + v.estimate, 0) || ' of ' || v.project_budget || ' left'
                       END
                FROM verdict v WHERE j.id = v.id AND NOT v.fits
                RETURNING j.id
            ), leased AS (
                UPDATE keyfarm.jobs j
                SET state = 'leased', attempts = j.attempts + 1, worker_id = v.worker_id, progress = 0, updated_at = now(),
                    lease_expires_at = now() + make_interval(secs => $3::float8), blocked_reason = NULL
                FROM verdict v WHERE j.id = v.id AND v.fits
                RETURNING j.id, j.attempts, j.job_key, j.kind, j.engine, j.priority, j.spec, j.lease_expires_at,
                          j.max_attempts, j.attempt_base, j.shot_list_id, j.worker_id, j.estimated_credits,
                          j.fresh_after_attempt, j.reusing
            ), attempt AS (
                -- A provider job's attempt names its provider from the start, for the creates-a-minute limit.
                INSERT INTO keyfarm.attempts (job_id, attempt, worker_id, lease_expires_at, provider)
                SELECT id, attempts, worker_id, lease_expires_at,
                       CASE WHEN engine LIKE '%/%' AND NOT reusing THEN split_part(engine, '/', 1) END FROM leased
                RETURNING id, job_id
            ), reservation AS (
                INSERT INTO keyfarm.credit_ledger (shot_list_id, job_id, attempt_id, engine, provider, entry, credits, note)
                SELECT leased.shot_list_id, leased.id, attempt.id, leased.engine, split_part(leased.engine, '/', 1), 'reserve',
                       leased.estimated_credits, 'estimate reserved at dispatch'
                FROM leased JOIN attempt ON attempt.job_id = leased.id WHERE leased.estimated_credits > 0
            )
            SELECT leased.id, leased.worker_id, attempt.id AS attempt_id, leased.attempts, leased.job_key, leased.kind,
                   leased.engine, leased.priority, leased.lease_expires_at, leased.max_attempts,
                   ((CASE WHEN EXISTS (SELECT 1 FROM keyfarm.job_dependencies jd WHERE jd.job_id = leased.id)
                         THEN leased.spec || jsonb_build_object('inputs',
                              (SELECT jsonb_object_agg(d.job_key, d.artifacts)
                                 FROM keyfarm.job_dependencies jd JOIN keyfarm.jobs d ON d.id = jd.depends_on
                                WHERE jd.job_id = leased.id))
                         ELSE leased.spec END)
                    -- The provider's file ids of the job's keyframe images, by content.
                    || COALESCE((SELECT jsonb_build_object('provider_files', jsonb_object_agg(pf.sha256, pf.file_id))
                                   FROM keyfarm.provider_files pf
                                  WHERE leased.engine IS NOT NULL AND pf.provider = split_part(leased.engine, '/', 1)
                                    AND pf.sha256 IN (SELECT jsonb_path_query(leased.spec, 'lax $.**.sha256') #>> '{}')
                                 HAVING count(*) > 0), '{}'::jsonb))::text AS spec,
                   leased.attempts - leased.attempt_base AS attempt_in_round, l.name AS shot_list, l.project,
                   -- The request of the latest attempt that had one, if that attempt did not see it
                   -- through for a reason of its own (lost, handed back, polling failed, stopped by
                   -- the coordinator for a timeout); never one the provider failed or refused, nor
                   -- one from before an operator's `keyfarm retry --fresh`.
                   (SELECT CASE WHEN a.outcome IN ('lost', 'handed_back')
                                  OR (a.outcome = 'failed'
                                      AND a.error_class IN ('transient', 'rate_limited', 'timeout', 'stalled'))
                                THEN a.provider_request_id END
                      FROM keyfarm.attempts a
                     WHERE a.job_id = leased.id AND a.provider_request_id IS NOT NULL AND a.outcome IS NOT NULL
                       AND a.attempt > leased.fresh_after_attempt
                     ORDER BY a.attempt DESC LIMIT 1) AS resume_request
            FROM leased JOIN attempt ON attempt.job_id = leased.id
            JOIN keyfarm.shot_lists l ON l.id = leased.shot_list_id
            ORDER BY leased.priority DESC, leased.id
            """, [slots, capabilities, leaseSeconds, slots.count], prepared: true).rows
        return try rows.map { row in
            (try row.decode("worker_id", as: Int64.self),
             ClaimedJob(jobID: try row.decode("id"), attemptID: try row.decode("attempt_id"),
                        attempt: try row.decode("attempts"), key: try row.decode("job_key"), kind: try row.decode("kind"),
                        engine: try row.decode("engine", as: String?.self), priority: try row.decode("priority"),
                        spec: try row.decode("spec"), leaseExpiresAt: try row.decode("lease_expires_at"),
                        maxAttempts: try row.decode("max_attempts"), attemptInRound: try row.decode("attempt_in_round"),
                        shotList: try row.decode("shot_list"), project: try row.decode("project"),
                        resumeProviderRequestID: try row.decode("resume_request", as: String?.self)))
        }
    }

    /// `completeSuccesses`' statement (public for the test that checks its plan): $1 job ids, $2
    /// attempts, $3 artifact paths, $4 their SHA-256, $5 artifacts JSON, $6 received-at
    /// microseconds, $7 the attempts reused (0: none).
    public static let completeSuccessesSQL = """
        WITH u AS (
            SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
                   AS u(id, attempt, path, sha, artifacts, received, reused)
        ), done AS (
            UPDATE keyfarm.jobs j
            SET state = 'succeeded', progress = 1, artifact_path = NULLIF(u.path, ''),
                artifact_sha256 = NULLIF(u.sha, ''), artifacts = u.artifacts::jsonb, lease_expires_at = NULL,
                last_error = NULL, last_error_class = NULL, finished_at = now(), updated_at = now()
            FROM u WHERE j.id = u.id AND j.attempts = u.attempt AND keyfarm.state_in(j.state, '{leased,running}')
            RETURNING j.id
        ), closed AS (
            UPDATE keyfarm.attempts a
            SET outcome = COALESCE(a.outcome, CASE WHEN u.reused > 0 THEN 'reused' ELSE 'succeeded' END),
                reused_from_attempt_id = CASE WHEN a.outcome IS NULL AND u.reused > 0 THEN u.reused
                                              ELSE a.reused_from_attempt_id END,
                -- A reused attempt started no generation: it does not count against the provider's creates.
                provider = CASE WHEN a.outcome IS NULL AND u.reused > 0 THEN NULL ELSE a.provider END,
                finished_at = COALESCE(a.finished_at, now()),
                artifact_path = COALESCE(NULLIF(u.path, ''), a.artifact_path),
                artifact_sha256 = COALESCE(NULLIF(u.sha, ''), a.artifact_sha256),
                received_at = COALESCE(a.received_at, CASE WHEN u.received > 0 THEN to_timestamp(u.received / 1e6) END)
            FROM u WHERE a.job_id = u.id AND a.attempt = u.attempt
            RETURNING a.id
        ), settled AS (
            INSERT INTO keyfarm.credit_ledger (shot_list_id, job_id, attempt_id, engine, provider, entry, credits, note)
            SELECT r.shot_list_id, r.job_id, r.attempt_id, r.engine, r.provider, 'release', -r.credits, 'attempt finished'
            FROM keyfarm.credit_ledger r JOIN closed ON closed.id = r.attempt_id
            WHERE r.entry = 'reserve'
            ON CONFLICT DO NOTHING
            RETURNING shot_list_id
        ), released AS (
            UPDATE keyfarm.jobs d
            SET pending_dependencies = d.pending_dependencies - c.n,
                state = CASE WHEN d.pending_dependencies = c.n THEN 'queued' ELSE d.state END,
                queued_at = CASE WHEN d.pending_dependencies = c.n THEN now() ELSE d.queued_at END,
                updated_at = now()
            FROM (SELECT jd.job_id, count(*)::int AS n FROM keyfarm.job_dependencies jd
                  JOIN done ON done.id = jd.depends_on GROUP BY jd.job_id) c
            WHERE d.id = c.job_id AND d.state = 'waiting'
            RETURNING d.id
        )
        SELECT (SELECT count(*) FROM done) AS done, (SELECT count(*) FROM closed) AS closed,
               (SELECT count(*) FROM released) AS released,
               (SELECT array_agg(DISTINCT shot_list_id) FROM settled) AS settled_lists
        """

    /// Records many successful attempts that charged nothing (local work, or an earlier
    /// generation reused: `reusedFromAttemptID` > 0 names the attempt that rendered it) in one
    /// statement: jobs succeed, attempts close, dependants whose last dependency this was
    /// become ready. Attempts that no longer own their job change nothing. Returns how many
    /// were applied.
    @discardableResult
    public func completeSuccesses(_ successes: [(ref: AttemptRef, artifactPath: String?, artifactSHA256: String?,
                                                 artifactsJSON: String, receivedAtMicroseconds: Int64,
                                                 reusedFromAttemptID: Int64)]) throws -> Int {
        guard !successes.isEmpty else { return 0 }
        let row = try rows(connection.execute(Self.completeSuccessesSQL, [
            successes.map(\.ref.jobID), successes.map(\.ref.attempt), successes.map { $0.artifactPath ?? "" },
            successes.map { $0.artifactSHA256 ?? "" }, successes.map(\.artifactsJSON),
            successes.map(\.receivedAtMicroseconds), successes.map(\.reusedFromAttemptID)], prepared: true).rows)
        if try row.decode("released", as: Int.self) > 0 {
            try connection.notify(FarmStore.jobsChannel, payload: "released")
        }
        if let lists = try row.decode("settled_lists", as: [Int64]?.self), !lists.isEmpty {
            try unblockWithinBudget(shotListIDs: lists, on: connection)
        }
        return try row.decode("done", as: Int.self)
    }

    /// Records a successful attempt, its artifact and its charge, and releases the jobs that
    /// were waiting only for this one, all in one transaction. A completion for an attempt that
    /// no longer owns the job changes nothing but still books the credits it cost.
    public func completeSuccess(jobID: Int64, attempt: Int, artifactPath: String?, artifactSHA256: String?,
                                charge: Charge?, artifactsJSON: String = "[]") throws -> CompletionOutcome {
        try connection.transaction { connection in
            let job = try connection.execute("""
                UPDATE keyfarm.jobs SET state = 'succeeded', progress = 1, artifact_path = $3, artifact_sha256 = $4,
                       artifacts = $5::jsonb, lease_expires_at = NULL, last_error = NULL, last_error_class = NULL,
                       finished_at = now(), updated_at = now()
                WHERE id = $1 AND attempts = $2 AND keyfarm.state_in(state, '{leased,running}')
                RETURNING id
                """, [jobID, attempt, artifactPath, artifactSHA256, artifactsJSON]).rows
            let attemptID = try closeAttempt(jobID: jobID, attempt: attempt, outcome: "succeeded", errorClass: nil,
                                             error: nil, artifactPath: artifactPath, artifactSHA256: artifactSHA256,
                                             charge: charge, on: connection)
            try book(charge, jobID: jobID, attemptID: attemptID, on: connection)
            guard !job.isEmpty else { return .stale }
            let released = try connection.execute("""
                UPDATE keyfarm.jobs d
                SET pending_dependencies = d.pending_dependencies - 1,
                    state = CASE WHEN d.pending_dependencies = 1 THEN 'queued' ELSE d.state END,
                    queued_at = CASE WHEN d.pending_dependencies = 1 THEN now() ELSE d.queued_at END,
                    updated_at = now()
                FROM keyfarm.job_dependencies jd
                WHERE jd.depends_on = $1 AND d.id = jd.job_id AND d.state = 'waiting'
                RETURNING d.id, d.state
                """, [jobID]).rows
            let ready = try released.filter { try $0.decode("state", as: String.self) == "queued" }
                .map { try $0.decode("id", as: Int64.self) }
            try connection.notify(FarmStore.jobsChannel, payload: "released")
            return .applied(released: ready.sorted())
        }
    }

    /// Takes a job back from a draining worker without counting a failure: the attempt is
    /// closed as `handed_back` (keeping its provider request id for the next attempt to
    /// resume) and the job is queued again at once, with one more attempt allowed. `fresh`:
    /// no later attempt resumes a request of this one or earlier (the provider failed it).
    public func handBack(jobID: Int64, attempt: Int, providerRequestID: String?, fresh: Bool = false) throws -> CompletionOutcome {
        try connection.transaction { connection in
            _ = try closeAttempt(jobID: jobID, attempt: attempt, outcome: "handed_back", errorClass: nil, error: nil,
                                 artifactPath: nil, artifactSHA256: nil, charge: nil, on: connection)
            if let providerRequestID, !providerRequestID.isEmpty {
                try connection.execute("UPDATE keyfarm.attempts SET provider_request_id = $3 WHERE job_id = $1 AND attempt = $2",
                                       [jobID, attempt, providerRequestID])
            }
            let rows = try connection.execute("""
                UPDATE keyfarm.jobs SET state = 'queued', worker_id = NULL, lease_expires_at = NULL, progress = 0,
                       not_before = now(), queued_at = now(), attempt_base = attempt_base + 1, updated_at = now(),
                       fresh_after_attempt = CASE WHEN $3 THEN attempts ELSE fresh_after_attempt END
                WHERE id = $1 AND attempts = $2 AND keyfarm.state_in(state, '{leased,running}')
                RETURNING not_before
                """, [jobID, attempt, fresh]).rows
            guard let row = rows.first else { return .stale }
            try connection.notify(FarmStore.jobsChannel, payload: "released")
            return .retrying(notBefore: try row.decode("not_before"))
        }
    }

    /// Records a failed (or lost) attempt. With `retryAfter` and attempts left the job is queued
    /// again not before now + retryAfter; otherwise it fails for good with the error as its
    /// reason, and every job that depends on it, directly or not, fails with it.
    public func completeFailure(jobID: Int64, attempt: Int, errorClass: ErrorClass, error message: String,
                                retryAfter: Double?, charge: Charge? = nil) throws -> CompletionOutcome {
        try connection.transaction { connection in
            let attemptID = try closeAttempt(jobID: jobID, attempt: attempt,
                                             outcome: errorClass == .lost ? "lost" : "failed", errorClass: errorClass,
                                             error: message, artifactPath: nil, artifactSHA256: nil, charge: charge,
                                             on: connection)
            try book(charge, jobID: jobID, attemptID: attemptID, failed: true, on: connection)
            // A timeout is the engine's or the provider's slowness, not the worker's fault; a
            // stall (the worker stopped reporting) is.
            if ![.lost, .cancelled, .rateLimited, .timeout].contains(errorClass) {
                try countFailure(jobID: jobID, attempt: attempt, on: connection)
            }
            if let retryAfter {
                // A lost attempt moves the round's base on, so it does not use up max_attempts;
                // the job's lost attempts since the operator last retried it are capped instead.
                let retried = try connection.execute("""
                    UPDATE keyfarm.jobs SET state = 'queued', worker_id = NULL, lease_expires_at = NULL, progress = 0,
                           not_before = now() + make_interval(secs => $3::float8), queued_at = now(),
                           last_error = $4, last_error_class = $5, updated_at = now(),
                           attempt_base = attempt_base + CASE WHEN $5 = 'lost' THEN 1 ELSE 0 END
                    WHERE id = $1 AND attempts = $2 AND keyfarm.state_in(state, '{leased,running}')
                      AND CASE WHEN $5 = 'lost'
                               THEN (SELECT count(*) FROM keyfarm.attempts a WHERE a.job_id = $1 AND a.outcome = 'lost'
                                       AND a.attempt > jobs.retried_after_attempt) <= $6
                               ELSE attempts - attempt_base < max_attempts END
                    RETURNING not_before
                    """, [jobID, attempt, Swift.max(retryAfter, 0), message, errorClass.rawValue,
                          RetryPolicy.maxLostAttempts]).rows
                if let row = retried.first {
                    try connection.notify(FarmStore.jobsChannel, payload: "released")
                    return .retrying(notBefore: try row.decode("not_before"))
                }
            }
            let failed = try connection.execute("""
                UPDATE keyfarm.jobs SET state = 'failed', lease_expires_at = NULL, finished_at = now(), updated_at = now(),
                       last_error = CASE WHEN $5::text = 'lost'
                                         THEN $3 || ' (lost ' || (SELECT count(*) FROM keyfarm.attempts a
                                                                  WHERE a.job_id = $1 AND a.outcome = 'lost'
                                                                    AND a.attempt > jobs.retried_after_attempt)
                                              || ' times; workers vanish while running it)'
                                         WHEN attempts - attempt_base >= max_attempts AND $5::text <> 'invalid'
                                         THEN $3 || ' (after ' || (attempts - attempt_base) || ' of ' || max_attempts || ' attempts)'
                                         ELSE $3 END,
                       last_error_class = $4
                WHERE id = $1 AND attempts = $2 AND keyfarm.state_in(state, '{leased,running}')
                RETURNING job_key
                """, [jobID, attempt, message, errorClass.rawValue, errorClass.rawValue]).rows
            guard let key = try failed.first?.decode("job_key", as: String.self) else { return .stale }
            let dependants = try connection.execute("""
                WITH RECURSIVE downstream(id) AS (
                    SELECT job_id FROM keyfarm.job_dependencies WHERE depends_on = $1
                    UNION
                    SELECT jd.job_id FROM keyfarm.job_dependencies jd JOIN downstream ON jd.depends_on = downstream.id
                )
                UPDATE keyfarm.jobs j SET state = 'failed', finished_at = now(), updated_at = now(),
                       last_error = 'dependency ' || $2 || ' failed', last_error_class = 'invalid'
                FROM downstream WHERE j.id = downstream.id AND j.state IN ('waiting', 'queued')
                RETURNING j.id
                """, [jobID, key]).rows
            return .failed(alsoFailed: try dependants.map { try $0.decode("id", as: Int64.self) }.sorted())
        }
    }

    /// Counts a failure against the worker that made the attempt, for the shot's blocklist.
    /// Smoke jobs' failures are injected on purpose, so they never count.
    private func countFailure(jobID: Int64, attempt: Int, on connection: PostgresConnection) throws {
        try connection.execute("""
            INSERT INTO keyfarm.worker_shot_failures (worker_id, shot_id, failures, blocked_at)
            SELECT a.worker_id, j.shot_id, 1, CASE WHEN $3 <= 1 THEN now() END
            FROM keyfarm.attempts a JOIN keyfarm.jobs j ON j.id = a.job_id
            WHERE a.job_id = $1 AND a.attempt = $2 AND a.worker_id IS NOT NULL AND j.kind <> 'smoke'
            ON CONFLICT (worker_id, shot_id) DO UPDATE
            SET failures = keyfarm.worker_shot_failures.failures + 1,
                blocked_at = CASE WHEN keyfarm.worker_shot_failures.failures + 1 >= $3
                                  THEN COALESCE(keyfarm.worker_shot_failures.blocked_at, now()) END
            """, [jobID, attempt, Blocklist.failuresPerShot])
    }

    private func closeAttempt(jobID: Int64, attempt: Int, outcome: String, errorClass: ErrorClass?, error: String?,
                              artifactPath: String?, artifactSHA256: String?, charge: Charge?,
                              on connection: PostgresConnection) throws -> Int64? {
        let rows = try connection.execute("""
            UPDATE keyfarm.attempts
            SET outcome = COALESCE(outcome, $3), finished_at = COALESCE(finished_at, now()),
                error_class = COALESCE(error_class, $4), error = COALESCE(error, $5),
                artifact_path = COALESCE($6, artifact_path), artifact_sha256 = COALESCE($7, artifact_sha256),
                provider = COALESCE($8, provider), provider_request_id = COALESCE($9, provider_request_id),
                credits = GREATEST(credits, $10)
            WHERE job_id = $1 AND attempt = $2
            RETURNING id
            """, [jobID, attempt, outcome, errorClass?.rawValue, error, artifactPath, artifactSHA256,
                  charge?.provider, charge?.requestID, charge?.credits ?? 0]).rows
        let attemptID = try rows.first?.decode("id", as: Int64.self)
        if let attemptID { try releaseReservation(attemptIDs: [attemptID], on: connection) }
        return attemptID
    }

    /// Ends the reservations of finished attempts (once each) and lets blocked jobs that now
    /// fit their budget be claimed again.
    func releaseReservation(attemptIDs: [Int64], on connection: PostgresConnection) throws {
        let released = try connection.execute("""
            INSERT INTO keyfarm.credit_ledger (shot_list_id, job_id, attempt_id, engine, provider, entry, credits, note)
            SELECT r.shot_list_id, r.job_id, r.attempt_id, r.engine, r.provider, 'release', -r.credits, 'attempt finished'
            FROM keyfarm.credit_ledger r
            WHERE r.attempt_id = ANY($1::bigint[]) AND r.entry = 'reserve'
            ON CONFLICT DO NOTHING
            RETURNING shot_list_id
            """, [attemptIDs], prepared: true).rows
        let lists = Set(try released.map { try $0.decode("shot_list_id", as: Int64.self) })
        if !lists.isEmpty { try unblockWithinBudget(shotListIDs: Array(lists), on: connection) }
    }

    /// Requeues blocked jobs whose estimate now fits what their list and project have left
    /// (the claim checks again, job by job).
    func unblockWithinBudget(shotListIDs: [Int64]?, on connection: PostgresConnection) throws {
        let unblocked = try connection.execute("""
            UPDATE keyfarm.jobs j SET state = 'queued', queued_at = now(), updated_at = now(), blocked_reason = NULL
            FROM keyfarm.shot_lists l LEFT JOIN keyfarm.project_budgets pb ON pb.project = l.project
            WHERE j.shot_list_id = l.id AND j.state = 'blocked'
              AND ($1::bigint[] IS NULL OR l.id = ANY($1::bigint[]))
              AND (l.budget_credits IS NULL OR j.estimated_credits <= l.budget_credits - l.spent_credits - l.reserved_credits)
              AND CASE WHEN pb.budget_credits IS NULL THEN true
                       ELSE j.estimated_credits <= pb.budget_credits
                            - (SELECT COALESCE(sum(l2.spent_credits + l2.reserved_credits), 0) FROM keyfarm.shot_lists l2
                                WHERE l2.project = l.project) END
            """, [shotListIDs]).affectedRows
        if unblocked > 0 { try connection.notify(FarmStore.jobsChannel, payload: "released") }
    }

    /// Writes a charge to the ledger once per provider request (a repeated report books nothing).
    ///
    /// A failed generation (`failed`) is booked by its provider's policy in
    /// `keyfarm.provider_accounts.failed_generations`: `charged` books the charge, `refunded`
    /// books the charge and its refund (the ledger shows both), `free` books nothing. A
    /// provider without a row is charged.
    private func book(_ charge: Charge?, jobID: Int64, attemptID: Int64?, failed: Bool = false,
                      on connection: PostgresConnection) throws {
        guard let charge, charge.credits > 0 else { return }
        let policy = failed
            ? try connection.execute("SELECT failed_generations FROM keyfarm.provider_accounts WHERE provider = $1",
                                     [charge.provider]).rows.first?.decode("failed_generations", as: String.self) ?? "charged"
            : "charged"
        guard policy != "free" else { return }
        try connection.execute("""
            INSERT INTO keyfarm.credit_ledger (shot_list_id, job_id, attempt_id, engine, provider, provider_request_id,
                                               entry, credits, note)
            SELECT j.shot_list_id, j.id, $2, j.engine, $3, $4, 'charge', $5, $6 FROM keyfarm.jobs j WHERE j.id = $1
            ON CONFLICT DO NOTHING
            """, [jobID, attemptID, charge.provider, charge.requestID, charge.credits,
                  failed ? "failed generation" : nil])
        guard policy == "refunded" else { return }
        try connection.execute("""
            INSERT INTO keyfarm.credit_ledger (shot_list_id, job_id, attempt_id, engine, provider, provider_request_id,
                                               entry, credits, note)
            SELECT j.shot_list_id, j.id, $2, j.engine, $3, $4, 'refund', -$5::bigint, 'failed generation refunded by the provider'
            FROM keyfarm.jobs j WHERE j.id = $1
            ON CONFLICT DO NOTHING
            """, [jobID, attemptID, charge.provider, charge.requestID, charge.credits])
    }
}
