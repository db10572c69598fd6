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
    /// Its revision of the name: 1 for the first submit, then one more for each.
    public var revision: Int = 1
    /// The jobs an earlier generation of the project stands in for, and those sources.
    public var reused: [ReuseSource] = []
    /// What the rest is estimated to cost (the plan's estimate less the reused jobs').
    public var estimatedCredits: Int64 = 0
}

extension FarmStore {
    /// Inserts a planned shot list (shots, keyframes, jobs and their dependencies) in one
    /// transaction: either all of it is there afterwards, or none of it.
    /// Jobs whose request an earlier succeeded job of the project made reuse its artifacts,
    /// unless `reuse` is false (`--no-reuse`) or their shot says `reuse: false`.
    public func submit(_ plan: Plan, sourcePath: String, sourceText: String, replace: Bool,
                       reuse: Bool = true) throws -> SubmitReceipt {
        do {
            return try connection.transaction { connection in
                try insert(plan, sourcePath: sourcePath, sourceText: sourceText, replace: replace, reuse: reuse,
                           on: connection)
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            // Another submit of the same name won the race between our check and our insert.
            let existing = try resolveShotList(name: plan.shotList, project: plan.project)
            throw StoreError.shotListExists(project: plan.project, name: plan.shotList, id: existing.id)
        }
    }

    private func insert(_ plan: Plan, sourcePath: String, sourceText: String, replace: Bool, reuse: Bool,
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

        let list = try rows(connection.execute("""
            INSERT INTO keyfarm.shot_lists (project, name, budget_credits, estimated_credits, source_path, source_sha256, plan,
                                            revision, replaces_id, source_text)
            VALUES ($1, $2, $3, $4, $5, encode(sha256(convert_to($6, 'UTF8')), 'hex'), $7::jsonb,
                    (SELECT COALESCE(max(revision), 0) + 1 FROM keyfarm.shot_lists WHERE project = $1 AND name = $2), $8, $6)
            RETURNING id, revision
            """, [plan.project, plan.shotList, plan.budget, plan.estimatedCredits, sourcePath, sourceText,
                  String(decoding: plan.jsonData(pretty: false), as: UTF8.self), replacedID]).rows)
        let listID = try list.decode("id", as: Int64.self)

        var shotIDs: [String: Int64] = [:]
        for (position, planned) in plan.shots.enumerated() {
            let shot = planned.shot
            let shotID = try rows(connection.execute("""
                INSERT INTO keyfarm.shots (shot_list_id, position, shot_key, duration_seconds, fps_num, fps_den, frames,
                                           resolution, aspect, width, height, outputs, seam, priority, max_attempts,
                                           content_key, draft)
                VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8, $9, $10, $11, $12::text[], $13, $14, $15, $16, $17)
                RETURNING id
                """, [listID, position, shot.id, shot.duration.description, shot.fps.rational.numerator,
                      shot.fps.rational.denominator, planned.frames, shot.resolution.rawValue, shot.aspect.rawValue,
                      shot.size.width, shot.size.height, shot.outputs.map(\.rawValue), shot.seam, shot.priority,
                      shot.maxAttempts, planned.contentKey, shot.draft]).rows).decode("id", as: Int64.self)
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
                                      pending_dependencies, estimated_credits, queued_at, request_key, take)
            SELECT $1, u.shot_id, u.job_key, u.kind, NULLIF(u.segment_index, -1), u.part, u.part_count, u.start_frame,
                   u.end_frame, NULLIF(u.engine, ''), u.requires, NULLIF(u.bucket, -1), u.spec::jsonb,
                   CASE WHEN u.pending > 0 THEN 'waiting' ELSE 'queued' END, u.priority, u.max_attempts, u.pending,
                   u.credits, CASE WHEN u.pending > 0 THEN NULL ELSE now() END, NULLIF(u.request_key, ''), u.take
            FROM unnest($2::bigint[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[],
                        $10::text[], $11::text[], $12::int[], $13::text[], $14::int[], $15::int[], $16::int[], $17::bigint[],
                        $18::text[], $19::int[])
                 WITH ORDINALITY AS u(shot_id, job_key, kind, segment_index, part, part_count, start_frame, end_frame,
                                      engine, requires, bucket, spec, priority, max_attempts, pending, credits,
                                      request_key, take, ord)
            ORDER BY u.ord
            RETURNING id
            """, [listID,
                  jobs.map { shotIDs[$0.1.shotID]! },
                  jobs.map(\.1.key), jobs.map(\.1.kind.rawValue), jobs.map { $0.1.segmentIndex ?? -1 },
                  jobs.map(\.1.part), jobs.map(\.1.partCount), jobs.map(\.1.startFrame), jobs.map(\.1.endFrame),
                  jobs.map { $0.1.engine?.name ?? "" }, jobs.map(\.1.requires), jobs.map { $0.1.durationBucket ?? -1 },
                  jobs.map { $0.1.specJSON(shot: $0.0) }, jobs.map(\.1.priority), jobs.map(\.1.maxAttempts),
                  jobs.map(\.1.dependsOn.count), jobs.map { Int64($0.1.estimatedCredits) },
                  jobs.map { $0.1.requestKey ?? "" }, jobs.map(\.1.take)])
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
        // Jobs an earlier generation stands in for cost nothing; the list's estimate is the rest.
        let eligible = reuse ? jobs.filter { $0.0.shot.reuse }.map(\.1.key) : []
        let reused = try applyReuse(listID: listID, project: plan.project, eligible: eligible, on: connection)
        let estimate = try rows(connection.execute("""
            UPDATE keyfarm.shot_lists SET estimated_credits = (SELECT COALESCE(sum(estimated_credits), 0)
                                                              FROM keyfarm.jobs WHERE shot_list_id = $1)
            WHERE id = $1 RETURNING estimated_credits
            """, [listID]).rows).decode("estimated_credits", as: Int64.self)
        if let replacedID {
            // A shot that delivers exactly what the replaced one did keeps its review.
            try connection.execute("""
                UPDATE keyfarm.shots s
                SET review_state = p.review_state, review_note = p.review_note, reviewed_at = p.reviewed_at,
                    reviewed_by = p.reviewed_by
                FROM keyfarm.shots p
                WHERE s.shot_list_id = $1 AND p.shot_list_id = $2 AND p.shot_key = s.shot_key AND p.content_key = s.content_key
                """, [listID, replacedID])
        }
        try connection.notify(FarmStore.jobsChannel, payload: "submitted:\(listID)")
        return SubmitReceipt(shotListID: listID, project: plan.project, name: plan.shotList, shots: plan.shots.count,
                             jobs: jobs.count, replacedID: replacedID, revision: try list.decode("revision", as: Int.self),
                             reused: reused, estimatedCredits: estimate)
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
