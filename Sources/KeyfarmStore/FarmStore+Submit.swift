import KeyfarmCore
import KeyfarmPostgres

/// What `submit` wrote.
public struct SubmitReceipt: Sendable, Equatable {
    public var shotListID: Int64
    public var project: String
    public var name: String
    public var shots: Int
    public var jobs: Int
    /// The id of the list this one replaced, when `--replace` replaced one.
    public var replacedID: Int64?
}

extension FarmStore {
    /// Inserts a planned shot list (shots, keyframes, jobs and their dependencies) in one
    /// transaction: either all of it is there afterwards, or none of it.
    public func submit(_ plan: Plan, sourcePath: String, sourceText: String, replace: Bool) throws -> SubmitReceipt {
        do {
            return try connection.transaction { connection in
                try insert(plan, sourcePath: sourcePath, sourceText: sourceText, replace: replace, on: connection)
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            // Another submit of the same name won the race between our check and our insert.
            let existing = try resolveShotList(name: plan.shotList, project: plan.project)
            throw StoreError.shotListExists(project: plan.project, name: plan.shotList, id: existing.id)
        }
    }

    private func insert(_ plan: Plan, sourcePath: String, sourceText: String, replace: Bool,
                        on connection: PostgresConnection) throws -> SubmitReceipt {
        var replacedID: Int64?
        let existing = try connection.execute("""
            SELECT id FROM keyfarm.shot_lists WHERE project = $1 AND name = $2 AND state <> 'replaced' FOR UPDATE
            """, [plan.project, plan.shotList]).rows
        if let old = existing.first {
            let id = try old.decode("id", as: Int64.self)
            guard replace else { throw StoreError.shotListExists(project: plan.project, name: plan.shotList, id: id) }
            try retire(listID: id, as: "replaced", on: connection)
            replacedID = id
        }

        let listID = try rows(connection.execute("""
            INSERT INTO keyfarm.shot_lists (project, name, budget_credits, estimated_credits, source_path, source_sha256, plan)
            VALUES ($1, $2, $3, $4, $5, encode(sha256(convert_to($6, 'UTF8')), 'hex'), $7::jsonb)
            RETURNING id
            """, [plan.project, plan.shotList, plan.budget, plan.estimatedCredits, sourcePath, sourceText,
                  String(decoding: plan.jsonData(pretty: false), as: UTF8.self)]).rows).decode("id", as: Int64.self)

        var shotIDs: [String: Int64] = [:]
        for (position, planned) in plan.shots.enumerated() {
            let shot = planned.shot
            let shotID = try rows(connection.execute("""
                INSERT INTO keyfarm.shots (shot_list_id, position, shot_key, duration_seconds, fps_num, fps_den, frames,
                                           resolution, aspect, width, height, outputs, seam, priority, max_attempts)
                VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8, $9, $10, $11, $12::text[], $13, $14, $15)
                RETURNING id
                """, [listID, position, shot.id, shot.duration.description, shot.fps.rational.numerator,
                      shot.fps.rational.denominator, planned.frames, shot.resolution.rawValue, shot.aspect.rawValue,
                      shot.size.width, shot.size.height, shot.outputs.map(\.rawValue), shot.seam, shot.priority,
                      shot.maxAttempts]).rows).decode("id", as: Int64.self)
            shotIDs[shot.id] = shotID
            try connection.execute("""
                INSERT INTO keyfarm.keyframes (shot_id, position, at_seconds, frame, image, prompt)
                SELECT $1, u.ord - 1, u.at::numeric, u.frame, NULLIF(u.image, ''), NULLIF(u.prompt, '')
                FROM unnest($2::text[], $3::int[], $4::text[], $5::text[]) WITH ORDINALITY AS u(at, frame, image, prompt, ord)
                """, [shotID, shot.keyframes.map(\.at.description), planned.keyframeFrames,
                      shot.keyframes.map { keyframe -> String in
                          switch keyframe.image {
                          case .file(_, let path)?: path
                          case .url(let url)?: url
                          case nil: ""
                          }
                      },
                      shot.keyframes.map { $0.prompt ?? "" }])
        }

        let jobs = plan.shots.flatMap { shot in shot.jobs.map { (shot, $0) } }
        let inserted = try connection.execute("""
            INSERT INTO keyfarm.jobs (shot_list_id, shot_id, job_key, kind, segment_index, part, part_count, start_frame,
                                      end_frame, engine, requires, duration_bucket, spec, state, priority, max_attempts,
                                      pending_dependencies, estimated_credits, queued_at)
            SELECT $1, u.shot_id, u.job_key, u.kind, NULLIF(u.segment_index, -1), u.part, u.part_count, u.start_frame,
                   u.end_frame, NULLIF(u.engine, ''), u.requires, NULLIF(u.bucket, -1), u.spec::jsonb,
                   CASE WHEN u.pending > 0 THEN 'waiting' ELSE 'queued' END, u.priority, u.max_attempts, u.pending,
                   u.credits, CASE WHEN u.pending > 0 THEN NULL ELSE now() END
            FROM unnest($2::bigint[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[],
                        $10::text[], $11::text[], $12::int[], $13::text[], $14::int[], $15::int[], $16::int[], $17::bigint[])
                 WITH ORDINALITY AS u(shot_id, job_key, kind, segment_index, part, part_count, start_frame, end_frame,
                                      engine, requires, bucket, spec, priority, max_attempts, pending, credits, ord)
            ORDER BY u.ord
            RETURNING id
            """, [listID,
                  jobs.map { shotIDs[$0.1.shotID]! },
                  jobs.map(\.1.key), jobs.map(\.1.kind.rawValue), jobs.map { $0.1.segmentIndex ?? -1 },
                  jobs.map(\.1.part), jobs.map(\.1.partCount), jobs.map(\.1.startFrame), jobs.map(\.1.endFrame),
                  jobs.map { $0.1.engine?.name ?? "" }, jobs.map(\.1.requires), jobs.map { $0.1.durationBucket ?? -1 },
                  jobs.map { $0.1.specJSON(shot: $0.0) }, jobs.map(\.1.priority), jobs.map(\.1.maxAttempts),
                  jobs.map(\.1.dependsOn.count), jobs.map { Int64($0.1.estimatedCredits) }])
        guard inserted.rows.count == jobs.count else {
            throw PostgresError(context: "submitting \(plan.shotList)", message: "inserted \(inserted.rows.count) of \(jobs.count) jobs")
        }

        let edges = jobs.flatMap { job in job.1.dependsOn.map { (job.1.key, $0) } }
        if !edges.isEmpty {
            let linked = try connection.execute("""
                INSERT INTO keyfarm.job_dependencies (job_id, depends_on)
                SELECT j.id, d.id
                FROM unnest($2::text[], $3::text[]) AS u(job_key, dependency_key)
                JOIN keyfarm.jobs j ON j.shot_list_id = $1 AND j.job_key = u.job_key
                JOIN keyfarm.jobs d ON d.shot_list_id = $1 AND d.job_key = u.dependency_key
                """, [listID, edges.map(\.0), edges.map(\.1)])
            guard linked.affectedRows == edges.count else {
                throw PostgresError(context: "submitting \(plan.shotList)", message: "linked \(linked.affectedRows) of \(edges.count) dependencies")
            }
        }
        try connection.notify(FarmStore.jobsChannel, payload: "submitted:\(listID)")
        return SubmitReceipt(shotListID: listID, project: plan.project, name: plan.shotList, shots: plan.shots.count,
                             jobs: jobs.count, replacedID: replacedID)
    }

    /// Stops a list's unfinished work: marks it `cancelled` or `replaced` and cancels every job
    /// that has not finished (attempts in flight are closed as cancelled; credits already spent
    /// stay in the ledger). Returns (jobs cancelled, of which were running on a worker).
    @discardableResult
    func retire(listID: Int64, as state: String, on connection: PostgresConnection) throws -> (cancelled: Int, interrupted: Int) {
        try connection.execute("UPDATE keyfarm.shot_lists SET state = $2, updated_at = now() WHERE id = $1", [listID, state])
        let interruptedAttempts = try connection.execute("""
            UPDATE keyfarm.attempts a SET outcome = 'cancelled', error_class = 'cancelled', finished_at = now(),
                   error = 'shot list ' || $2
            FROM keyfarm.jobs j
            WHERE j.shot_list_id = $1 AND j.state IN ('leased', 'running') AND a.job_id = j.id AND a.attempt = j.attempts
              AND a.outcome IS NULL
            RETURNING a.id
            """, [listID, state]).rows.map { try $0.decode("id", as: Int64.self) }
        let interrupted = interruptedAttempts.count
        if !interruptedAttempts.isEmpty { try releaseReservation(attemptIDs: interruptedAttempts, on: connection) }
        let cancelled = try connection.execute("""
            UPDATE keyfarm.jobs SET state = 'cancelled', finished_at = now(), updated_at = now(), lease_expires_at = NULL,
                   last_error = 'shot list ' || $2
            WHERE shot_list_id = $1 AND state IN ('waiting', 'queued', 'blocked', 'leased', 'running')
            """, [listID, state]).affectedRows
        try connection.notify(FarmStore.jobsChannel, payload: "cancelled:\(listID)")
        return (cancelled, interrupted)
    }
}
