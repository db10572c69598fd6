import Foundation
import KeyfarmCore
import KeyfarmPostgres

/// One take of a segment, as `keyfarm takes` lists it.
public struct TakeStatus: Sendable, Equatable {
    public var shot: String
    /// The segment's key: its first take's job key (`sh010/s1`, `sh010/s1p2` for a part).
    public var segment: String
    public var take: Int
    public var jobID: Int64
    public var jobKey: String
    public var state: String
    public var engine: String?
    public var prompt: String?
    public var estimatedCredits: Int64
    public var spentCredits: Int64
    public var providerRequestID: String?
    /// Whether the shot's stitch uses this take.
    public var selected: Bool
    /// When an earlier identical generation stood in for it: `rev 1 sh010/s1 attempt 1`.
    public var reusedFrom: String?
}

/// What `retake` queued.
public struct RetakeReceipt: Sendable, Equatable {
    public var segment: String
    public var take: Int
    public var jobID: Int64
    public var jobKey: String
    /// 0 when an earlier identical generation stands in for it.
    public var estimatedCredits: Int64
    public var reused: ReuseSource?
}

/// What `select` changed.
public struct SelectReceipt: Sendable, Equatable {
    public struct Continued: Sendable, Equatable {
        public var segment: String
        public var take: Int
        public var jobKey: String
        /// True when the take was made now (it renders unless reused); false when an earlier
        /// take already continued from the selected one.
        public var created: Bool

        public init(segment: String, take: Int, jobKey: String, created: Bool) {
            self.segment = segment
            self.take = take
            self.jobKey = jobKey
            self.created = created
        }
    }

    public var segment: String
    public var take: Int
    public var jobKey: String
    public var alreadySelected: Bool
    /// Segments that continue from the selected take's last frame, and their takes now selected.
    public var continued: [Continued] = []
    /// Stitches queued again.
    public var restitched: [String] = []
}

extension FarmStore {
    /// One job of a segment's takes, with its spec read.
    struct TakeRow {
        var id: Int64
        var key: String
        var take: Int
        var state: String
        var spec: SegmentSpec
        var requestKey: String?
        var selected: Bool
        var shotID: Int64
        var shotKey: String
    }

    /// Every take of the segment `reference` names (any take's job key), oldest first, locked.
    func takes(listID: Int64, reference: String, on connection: PostgresConnection) throws -> [TakeRow] {
        let rows = try connection.execute("""
            SELECT j.id, j.job_key, j.take, j.state, j.spec::text AS spec, j.request_key, j.shot_id, s.shot_key,
                   \(Self.isSelected("j")) AS selected
            FROM keyfarm.jobs j JOIN keyfarm.shots s ON s.id = j.shot_id
            WHERE (j.shot_id, j.segment_index, j.part) = (
                    SELECT shot_id, segment_index, part FROM keyfarm.jobs
                    WHERE shot_list_id = $1 AND job_key = $2 AND kind = 'segment' AND NOT spec ? 'reframe')
              AND j.kind = 'segment' AND NOT j.spec ? 'reframe'
            ORDER BY j.take
            FOR UPDATE OF j
            """, [listID, reference]).rows
        guard !rows.isEmpty else {
            let name = try connection.execute("SELECT name FROM keyfarm.shot_lists WHERE id = $1", [listID]).rows.first?
                .decode("name", as: String.self) ?? "?"
            let known = try connection.execute("""
                SELECT job_key FROM keyfarm.jobs WHERE shot_list_id = $1 AND kind = 'segment' AND take = 1
                  AND NOT spec ? 'reframe' ORDER BY id
                """, [listID]).rows.map { try $0.decode("job_key", as: String.self) }
            throw StoreError.noSuchSegment(reference: reference, shotList: name, known: known)
        }
        return try rows.map { row in
            let key: String = try row.decode("job_key")
            return TakeRow(id: try row.decode("id"), key: key, take: try row.decode("take"),
                           state: try row.decode("state"), spec: try Self.spec(SegmentSpec.self, of: key, try row.decode("spec")),
                           requestKey: try row.decode("request_key", as: String?.self), selected: try row.decode("selected"),
                           shotID: try row.decode("shot_id"), shotKey: try row.decode("shot_key"))
        }
    }

    /// Queues another take of a segment: a copy of its selected take with the next take number
    /// (and `prompt` instead of its own, when given), a new request and so a new generation,
    /// estimated and budgeted like any job. The stitch keeps its take until `select`.
    public func retake(shotListID: Int64, segment reference: String, prompt: String?) throws -> RetakeReceipt {
        try connection.transaction { connection in
            let project = try requireActive(listID: shotListID, on: connection)
            let takes = try self.takes(listID: shotListID, reference: reference, on: connection)
            let base = takes[0]
            let source = takes.first(where: \.selected) ?? takes[takes.count - 1]
            let take = takes.map(\.take).max()! + 1
            let key = base.key + "t\(take)"
            var spec = source.spec
            spec.reuse = nil
            spec.key = key
            spec.take = take
            if let prompt { spec.prompt = prompt }
            let requestKey = RequestKey.retake(of: source.requestKey ?? source.key, take: take, prompt: prompt, seed: nil)
            spec.requestKey = requestKey
            let id = try insertTake(copying: source, key: key, take: take, spec: spec, requestKey: requestKey,
                                    replacing: nil, on: connection)
            let reused = try applyReuse(listID: shotListID, project: project, eligible: [key], on: connection).first
            let estimate = try addEstimate(jobID: id, listID: shotListID, on: connection)
            try connection.notify(FarmStore.jobsChannel, payload: "submitted:\(shotListID)")
            return RetakeReceipt(segment: base.key, take: take, jobID: id, jobKey: key, estimatedCredits: estimate, reused: reused)
        }
    }

    /// Makes take `take` of a segment the one its shot's stitches use, and queues them again.
    /// A segment that continues from this one's last frame must start from the new take's:
    /// a take of it that already does is selected, or a new one is made (a new request, which
    /// renders unless an earlier identical generation stands in). The shot's review goes back
    /// to `pending`.
    public func select(shotListID: Int64, segment reference: String, take: Int) throws -> SelectReceipt {
        try connection.transaction { connection in
            let project = try requireActive(listID: shotListID, on: connection)
            let takes = try self.takes(listID: shotListID, reference: reference, on: connection)
            guard let target = takes.first(where: { $0.take == take }) else {
                throw StoreError.noSuchTake(segment: takes[0].key, take: take, takes: takes.map(\.take))
            }
            guard let current = takes.first(where: \.selected) else {
                throw StoreError.takeRefused("\(takes[0].key) has no stitch that uses one of its takes")
            }
            var receipt = SelectReceipt(segment: takes[0].key, take: take, jobKey: target.key,
                                        alreadySelected: target.id == current.id)
            guard target.id != current.id else { return receipt }
            let pruned = try connection.execute("SELECT pruned_at IS NOT NULL AS pruned FROM keyfarm.jobs WHERE id = $1",
                                                [target.id]).rows.first?.decode("pruned", as: Bool.self) ?? false
            guard !pruned else {
                throw StoreError.takeRefused("take \(take) of \(takes[0].key) was pruned (its files are deleted); make another with keyfarm retake")
            }
            try requireSelectedInputs(of: target, on: connection)
            try move(from: current, to: target, listID: shotListID, project: project, receipt: &receipt, on: connection)
            try connection.execute("""
                UPDATE keyfarm.shots SET review_state = 'pending', review_note = NULL, reviewed_at = NULL, reviewed_by = NULL
                WHERE id = $1
                """, [target.shotID])
            try connection.notify(FarmStore.jobsChannel, payload: "released")
            return receipt
        }
    }

    /// Every take of every segment of a list (or of one shot), in shot and segment order.
    public func takes(shotListID: Int64, shot: String?) throws -> [TakeStatus] {
        let rows = try connection.execute("""
            SELECT s.shot_key, j.id, j.job_key, j.take, j.engine, j.spec->>'prompt' AS prompt, j.estimated_credits,
                   CASE WHEN j.pruned_at IS NOT NULL THEN j.state || ' (pruned)'
                        WHEN j.state = 'queued' AND j.not_before > now() THEN 'retry_wait' ELSE j.state END AS state,
                   COALESCE((SELECT sum(c.credits) FROM keyfarm.credit_ledger c
                              WHERE c.job_id = j.id AND c.entry IN ('charge', 'refund', 'adjustment')), 0)::bigint AS spent,
                   (SELECT a.provider_request_id FROM keyfarm.attempts a WHERE a.job_id = j.id AND a.provider_request_id IS NOT NULL
                     ORDER BY a.attempt DESC LIMIT 1) AS request_id,
                   \(Self.isSelected("j")) AS selected,
                   (SELECT b.job_key FROM keyfarm.jobs b WHERE b.shot_id = j.shot_id AND b.segment_index = j.segment_index
                       AND b.part = j.part AND b.take = 1 AND b.kind = 'segment' AND NOT b.spec ? 'reframe' LIMIT 1) AS segment,
                   \(Self.reusedFrom("j")) AS reused_from
            FROM keyfarm.jobs j JOIN keyfarm.shots s ON s.id = j.shot_id
            WHERE j.shot_list_id = $1 AND j.kind = 'segment' AND NOT j.spec ? 'reframe' AND ($2::text IS NULL OR s.shot_key = $2)
            ORDER BY s.position, j.segment_index, j.part, j.take
            """, [shotListID, shot]).rows
        return try rows.map { row in
            TakeStatus(shot: try row.decode("shot_key"), segment: try row.decode("segment", as: String?.self) ?? row.decode("job_key"),
                       take: try row.decode("take"), jobID: try row.decode("id"), jobKey: try row.decode("job_key"),
                       state: try row.decode("state"), engine: try row.decode("engine", as: String?.self),
                       prompt: try row.decode("prompt", as: String?.self), estimatedCredits: try row.decode("estimated_credits"),
                       spentCredits: try row.decode("spent"), providerRequestID: try row.decode("request_id", as: String?.self),
                       selected: try row.decode("selected"), reusedFrom: try row.decode("reused_from", as: String?.self))
        }
    }

    /// Moves everything that uses `current` over to `target`: stitches are edited and queued
    /// again; a selected segment continuing from `current` gets a take continuing from `target`.
    private func move(from current: TakeRow, to target: TakeRow, listID: Int64, project: String,
                      receipt: inout SelectReceipt, on connection: PostgresConnection) throws {
        let dependants = try connection.execute("""
            SELECT j.id, j.job_key, j.kind, j.state, j.spec::text AS spec, j.request_key,
                   \(Self.isSelected("j")) AS selected
            FROM keyfarm.job_dependencies d JOIN keyfarm.jobs j ON j.id = d.job_id
            WHERE d.depends_on = $1 ORDER BY (j.kind = 'stitch') DESC, j.id FOR UPDATE OF j
            """, [current.id]).rows
        // Stitches first: a continuation's move below edits them again, from what is stored then.
        for row in dependants {
            let id: Int64 = try row.decode("id"), key: String = try row.decode("job_key")
            let kind: String = try row.decode("kind"), state: String = try row.decode("state")
            let text: String = try row.decode("spec")
            if kind == "stitch" {
                guard state != "leased" && state != "running" else {
                    throw StoreError.takeRefused("\(key) is stitching now; select again once it has finished")
                }
                var spec = try Self.spec(StitchSpec.self, of: key, text)
                spec.reuse = nil
                for p in spec.segmentJobs.indices where spec.segmentJobs[p].key == current.key {
                    spec.segmentJobs[p].key = target.key
                    spec.segmentJobs[p].take = target.take
                }
                spec.dependsOn = spec.dependsOn.map { $0 == current.key ? target.key : $0 }
                let requestKey = RequestKey.restitch(of: try row.decode("request_key", as: String?.self) ?? key,
                                                     replacing: current.requestKey ?? current.key,
                                                     with: target.requestKey ?? target.key)
                spec.requestKey = requestKey
                try connection.execute("UPDATE keyfarm.job_dependencies SET depends_on = $3 WHERE job_id = $1 AND depends_on = $2",
                                       [id, current.id, target.id])
                try connection.execute("""
                    UPDATE keyfarm.jobs j
                    SET spec = $2::jsonb, request_key = $3, estimated_credits = 0,
                        pending_dependencies = p.n,
                        state = CASE WHEN p.n > 0 THEN 'waiting' ELSE 'queued' END,
                        queued_at = CASE WHEN p.n > 0 THEN NULL ELSE now() END,
                        not_before = now(), attempt_base = j.attempts, fresh_after_attempt = j.attempts,
                        progress = 0, finished_at = NULL, last_error = NULL, last_error_class = NULL,
                        worker_id = NULL, lease_expires_at = NULL, blocked_reason = NULL, updated_at = now()
                    FROM (SELECT count(*) FILTER (WHERE dj.state <> 'succeeded')::int AS n
                          FROM keyfarm.job_dependencies d JOIN keyfarm.jobs dj ON dj.id = d.depends_on
                          WHERE d.job_id = $1) p
                    WHERE j.id = $1
                    """, [id, spec.json, requestKey])
                if !receipt.restitched.contains(key) { receipt.restitched.append(key) }
            } else if try Self.spec(SegmentSpec.self, of: key, text).reframe != nil {
                throw StoreError.takeRefused("\(key) reframes \(current.key) through the provider; selecting another take of a segment whose shot is reframed by the provider is not supported yet (reframe_engine: local crops the stitched take instead)")
            } else if try row.decode("selected", as: Bool.self) {
                // A selected segment continuing from `current`: its take continuing from `target`.
                let takes = try self.takes(listID: listID, reference: key, on: connection)
                let continuing = try connection.execute("""
                    SELECT j.id FROM keyfarm.jobs j JOIN keyfarm.job_dependencies d ON d.job_id = j.id
                    WHERE d.depends_on = $1 AND j.id = ANY($2::bigint[])
                    """, [target.id, takes.map(\.id)]).rows.first?.decode("id", as: Int64.self)
                let from = takes.first { $0.id == id }!
                if let continuing, let existing = takes.first(where: { $0.id == continuing }) {
                    receipt.continued.append(.init(segment: takes[0].key, take: existing.take, jobKey: existing.key, created: false))
                    try move(from: from, to: existing, listID: listID, project: project, receipt: &receipt, on: connection)
                } else {
                    let take = takes.map(\.take).max()! + 1
                    let newKey = takes[0].key + "t\(take)"
                    var newSpec = from.spec.continuing(from: current.key, to: target.key)
                    newSpec.reuse = nil
                    newSpec.key = newKey
                    newSpec.take = take
                    let requestKey = RequestKey.continuation(of: from.requestKey ?? from.key, from: target.requestKey ?? target.key)
                    newSpec.requestKey = requestKey
                    let newID = try insertTake(copying: from, key: newKey, take: take, spec: newSpec, requestKey: requestKey,
                                               replacing: (current.id, target.id), on: connection)
                    _ = try applyReuse(listID: listID, project: project, eligible: [newKey], on: connection)
                    _ = try addEstimate(jobID: newID, listID: listID, on: connection)
                    receipt.continued.append(.init(segment: takes[0].key, take: take, jobKey: newKey, created: true))
                    let made = TakeRow(id: newID, key: newKey, take: take, state: "queued", spec: newSpec, requestKey: requestKey,
                                       selected: false, shotID: from.shotID, shotKey: from.shotKey)
                    try move(from: from, to: made, listID: listID, project: project, receipt: &receipt, on: connection)
                }
            }
        }
    }

    /// Inserts a take copying `source`'s row with its own key, take, spec and request key, and
    /// `source`'s dependencies (with `replacing.old` swapped for `replacing.new`).
    private func insertTake(copying source: TakeRow, key: String, take: Int, spec: SegmentSpec, requestKey: String,
                            replacing: (old: Int64, new: Int64)?, on connection: PostgresConnection) throws -> Int64 {
        let inputs = try connection.execute("""
            SELECT CASE WHEN d.depends_on = $2::bigint THEN $3::bigint ELSE d.depends_on END AS id FROM keyfarm.job_dependencies d
            WHERE d.job_id = $1
            """, [source.id, replacing?.old ?? 0, replacing?.new ?? 0]).rows.map { try $0.decode("id", as: Int64.self) }
        let states = try connection.execute("""
            SELECT j.job_key, j.state FROM keyfarm.jobs j WHERE j.id = ANY($1::bigint[])
            """, [inputs]).rows.map { (try $0.decode("job_key", as: String.self), try $0.decode("state", as: String.self)) }
        if let dead = states.first(where: { $0.1 == "failed" || $0.1 == "cancelled" }) {
            throw StoreError.takeRefused("\(key) would start from \(dead.0), which \(dead.1); retry that first (keyfarm retry)")
        }
        let pending = states.filter { $0.1 != "succeeded" }.count
        let id = try rows(connection.execute("""
            INSERT INTO keyfarm.jobs (shot_list_id, shot_id, job_key, kind, segment_index, part, part_count, start_frame, end_frame,
                                      engine, requires, duration_bucket, spec, state, priority, max_attempts,
                                      pending_dependencies, estimated_credits, queued_at, request_key, take)
            SELECT shot_list_id, shot_id, $2, kind, segment_index, part, part_count, start_frame, end_frame, engine, requires,
                   duration_bucket, $3::jsonb, CASE WHEN $4 > 0 THEN 'waiting' ELSE 'queued' END, priority, max_attempts, $4,
                   COALESCE(($3::jsonb->>'estimated_credits')::bigint, 0), CASE WHEN $4 > 0 THEN NULL ELSE now() END, $5, $6
            FROM keyfarm.jobs WHERE id = $1
            RETURNING id
            """, [source.id, key, spec.json, pending, requestKey, take]).rows).decode("id", as: Int64.self)
        if !inputs.isEmpty {
            try connection.execute("""
                INSERT INTO keyfarm.job_dependencies (job_id, depends_on) SELECT $1, unnest($2::bigint[])
                """, [id, inputs])
        }
        return id
    }

    /// Adds a new job's estimate to its list's; returns it.
    private func addEstimate(jobID: Int64, listID: Int64, on connection: PostgresConnection) throws -> Int64 {
        try rows(connection.execute("""
            WITH job AS (SELECT estimated_credits FROM keyfarm.jobs WHERE id = $1)
            UPDATE keyfarm.shot_lists SET estimated_credits = estimated_credits + (SELECT estimated_credits FROM job),
                   updated_at = now()
            WHERE id = $2 RETURNING (SELECT estimated_credits FROM job) AS estimate
            """, [jobID, listID]).rows).decode("estimate", as: Int64.self)
    }

    /// Refuses a take that continues from a take not selected (its frames would not join).
    private func requireSelectedInputs(of take: TakeRow, on connection: PostgresConnection) throws {
        let stale = try connection.execute("""
            SELECT j.job_key FROM keyfarm.job_dependencies d JOIN keyfarm.jobs j ON j.id = d.depends_on
            WHERE d.job_id = $1 AND j.kind = 'segment'
              AND NOT \(Self.isSelected("j"))
            """, [take.id]).rows.map { try $0.decode("job_key", as: String.self) }
        if let input = stale.first {
            throw StoreError.takeRefused("take \(take.take) of \(take.key) continues from \(input), which is not the selected take of its segment; select that one first")
        }
    }

    /// The list's project, if it is live; a replaced or cancelled revision takes no new takes.
    private func requireActive(listID: Int64, on connection: PostgresConnection) throws -> String {
        let row = try rows(connection.execute("SELECT name, project, state FROM keyfarm.shot_lists WHERE id = $1 FOR UPDATE",
                                              [listID]).rows)
        let state: String = try row.decode("state")
        guard state == "active" else {
            throw StoreError.takeRefused("shot list \(try row.decode("name", as: String.self)) (id \(listID)) is \(state); takes belong to its live revision")
        }
        return try row.decode("project")
    }

    /// SQL: whether job `alias` is the take its shot's stitch uses (the stitch, not a stitch at
    /// another aspect, depends on it).
    static func isSelected(_ alias: String) -> String {
        """
        EXISTS (SELECT 1 FROM keyfarm.job_dependencies sd JOIN keyfarm.jobs st ON st.id = sd.job_id
                WHERE sd.depends_on = \(alias).id AND st.kind = 'stitch' AND NOT st.spec ? 'reframe')
        """
    }

    /// SQL: `rev 1 sh010/s0 attempt 1` when job `alias`'s current attempt reused an earlier generation, else NULL.
    static func reusedFrom(_ alias: String) -> String {
        """
        (SELECT 'rev ' || a.reused_from_revision || ' ' || a.reused_from_job_key || ' attempt ' || a.reused_from_attempt
           FROM keyfarm.v_attempts a WHERE a.job_id = \(alias).id AND a.attempt = \(alias).attempts AND a.outcome = 'reused')
        """
    }

    /// A job's stored spec, or a refusal naming the job and the field that cannot be read.
    static func spec<Spec: JobSpecDocument>(_ kind: Spec.Type, of key: String, _ text: String) throws -> Spec {
        do {
            return try Spec(json: text)
        } catch {
            throw StoreError.takeRefused("\(key): its \(error)")
        }
    }
}

extension SegmentSpec {
    /// The spec continuing from job `new` wherever it continued from job `old`: its
    /// dependencies, and every image that is `old`'s last frame.
    func continuing(from old: String, to new: String) -> SegmentSpec {
        func image(_ image: JobSpec.Image?) -> JobSpec.Image? {
            if case .lastFrameOf(old)? = image { return .lastFrameOf(job: new) }
            return image
        }
        var spec = self
        spec.dependsOn = dependsOn.map { $0 == old ? new : $0 }
        spec.startImage = image(startImage)
        spec.endImage = image(endImage)
        spec.anchors = anchors?.map { anchor in
            var anchor = anchor
            anchor.image = image(anchor.image)
            return anchor
        }
        return spec
    }
}
