import Foundation
import KeyfarmCore
import KeyfarmPostgres

/// An earlier generation that can stand in for a planned job: same project, same request key,
/// succeeded. `attemptID` is the attempt that rendered the artifacts (never a reused one).
public struct ReuseSource: Sendable, Equatable {
    /// The planned job it stands in for.
    public var jobKey: String
    public var shotList: String
    public var revision: Int
    public var sourceJobID: Int64
    public var sourceJobKey: String
    public var attemptID: Int64
    public var attempt: Int

    /// `acme-spot rev 2 sh010/s0 attempt 1`.
    public var description: String { "\(shotList) rev \(revision) \(sourceJobKey) attempt \(attempt)" }
}

extension FarmStore {
    /// Finds, for each planned job, the newest succeeded job of `project` with its request key
    /// (`keyfarm plan --against`): what `submit` would reuse now, read-only.
    public func reuseSources(project: String, jobs: [PlannedJob]) throws -> [String: ReuseSource] {
        let wanted = jobs.filter { $0.requestKey != nil }
        guard !wanted.isEmpty else { return [:] }
        let rows = try connection.execute("""
            WITH wanted AS (
                SELECT * FROM unnest($1::text[], $2::text[]) AS w(job_key, request_key)
            ), \(Self.reuseSourcesCTE(project: "$3"))
            SELECT job_key, shot_list, revision, source_job_id, source_key, attempt_id, attempt FROM sources
            """, [wanted.map(\.key), wanted.map { $0.requestKey! }, project]).rows
        return Dictionary(uniqueKeysWithValues: try rows.map { row in
            let source = try ReuseSource(row)
            return (source.jobKey, source)
        })
    }

    /// Marks the jobs of a just-inserted list that an earlier generation can stand in for:
    /// each gets its source in `spec.reuse` (which the worker checks before anything else) and
    /// an estimate of 0. Only jobs named in `eligible` are considered.
    func applyReuse(listID: Int64, project: String, eligible: [String], on connection: PostgresConnection) throws -> [ReuseSource] {
        guard !eligible.isEmpty else { return [] }
        let rows = try connection.execute("""
            WITH wanted AS (
                SELECT j.job_key, j.request_key FROM keyfarm.jobs j
                WHERE j.shot_list_id = $1 AND j.job_key = ANY($2::text[]) AND j.request_key IS NOT NULL
            ), \(Self.reuseSourcesCTE(project: "$3"))
            UPDATE keyfarm.jobs j
            SET estimated_credits = 0,
                spec = j.spec || jsonb_build_object('reuse', jsonb_build_object(
                    'attempt_id', s.attempt_id, 'attempt', s.attempt, 'job_id', s.source_job_id, 'job_key', s.source_key,
                    'shot_list', s.shot_list, 'revision', s.revision, 'artifacts', s.artifacts))
            FROM sources s WHERE j.shot_list_id = $1 AND j.job_key = s.job_key
            RETURNING s.job_key, s.shot_list, s.revision, s.source_job_id, s.source_key, s.attempt_id, s.attempt
            """, [listID, eligible, project]).rows
        return try rows.map(ReuseSource.init)
    }

    /// `sources`: for each row of `wanted` (job_key, request_key), the newest succeeded job of
    /// the project with that key, the attempt that rendered its artifacts, and those artifacts.
    static func reuseSourcesCTE(project: String) -> String {
        """
        candidates AS (
            SELECT DISTINCT ON (w.job_key) w.job_key, s.artifacts, fa.attempt_id
            FROM wanted w
            JOIN keyfarm.jobs s ON s.request_key = w.request_key AND s.state = 'succeeded' AND s.pruned_at IS NULL
            JOIN keyfarm.shot_lists sl ON sl.id = s.shot_list_id AND sl.project = \(project)
            CROSS JOIN LATERAL (
                SELECT COALESCE(a.reused_from_attempt_id, a.id) AS attempt_id FROM keyfarm.attempts a
                WHERE a.job_id = s.id AND a.attempt = s.attempts AND a.outcome IN ('succeeded', 'reused')
            ) fa
            WHERE jsonb_typeof(s.artifacts) = 'array' AND jsonb_array_length(s.artifacts) > 0
            ORDER BY w.job_key, s.finished_at DESC NULLS LAST, s.id DESC
        ), sources AS (
            SELECT c.job_key, c.artifacts, a.id AS attempt_id, a.attempt, o.id AS source_job_id, o.job_key AS source_key,
                   ol.name AS shot_list, ol.revision
            FROM candidates c
            JOIN keyfarm.attempts a ON a.id = c.attempt_id
            JOIN keyfarm.jobs o ON o.id = a.job_id
            JOIN keyfarm.shot_lists ol ON ol.id = o.shot_list_id
        )
        """
    }

    /// A reused attempt whose artifacts a worker could not find (or whose checksums no longer
    /// match): the job and every job after it that planned to reuse give up their sources (the
    /// frames they would continue from are no longer the ones they were made from), take back
    /// their estimates, and the job is queued again to render, this attempt not counted.
    public func dropReuse(jobID: Int64, attempt: Int, reason: String) throws -> CompletionOutcome {
        try connection.transaction { connection in
            let closed = try connection.execute("""
                UPDATE keyfarm.attempts SET outcome = 'handed_back', finished_at = now(), error = $3
                WHERE job_id = $1 AND attempt = $2 AND outcome IS NULL
                """, [jobID, attempt, "reuse: " + reason]).affectedRows
            guard closed > 0 else { return .stale }
            try connection.execute("""
                WITH RECURSIVE after(id) AS (
                    SELECT $1::bigint
                    UNION
                    SELECT jd.job_id FROM keyfarm.job_dependencies jd JOIN after ON jd.depends_on = after.id
                ), dropped AS (
                    UPDATE keyfarm.jobs j
                    SET spec = j.spec - 'reuse', estimated_credits = COALESCE((j.spec->>'estimated_credits')::bigint, 0),
                        updated_at = now()
                    FROM after WHERE j.id = after.id AND j.spec ? 'reuse' AND j.state NOT IN ('succeeded', 'failed', 'cancelled')
                    RETURNING j.shot_list_id, j.estimated_credits AS restored
                )
                UPDATE keyfarm.shot_lists l SET estimated_credits = l.estimated_credits + d.restored, updated_at = now()
                FROM (SELECT shot_list_id, sum(restored)::bigint AS restored FROM dropped GROUP BY shot_list_id) d
                WHERE l.id = d.shot_list_id
                """, [jobID])
            let rows = try connection.execute("""
                UPDATE keyfarm.jobs SET state = 'queued', worker_id = NULL, lease_expires_at = NULL, progress = 0,
                       not_before = now(), queued_at = now(), attempt_base = attempt_base + 1, updated_at = now()
                WHERE id = $1 AND attempts = $2 AND keyfarm.state_in(state, '{leased,running}')
                RETURNING not_before
                """, [jobID, attempt]).rows
            guard let row = rows.first else { return .stale }
            try connection.notify(FarmStore.jobsChannel, payload: "released")
            return .retrying(notBefore: try row.decode("not_before"))
        }
    }
}

extension ReuseSource {
    init(_ row: PostgresRow) throws {
        self.init(jobKey: try row.decode("job_key"), shotList: try row.decode("shot_list"), revision: try row.decode("revision"),
                  sourceJobID: try row.decode("source_job_id"), sourceJobKey: try row.decode("source_key"),
                  attemptID: try row.decode("attempt_id"), attempt: try row.decode("attempt"))
    }
}

extension FarmStore {
    /// Each job's request key in a shot list, by job key (jobs planned before request keys
    /// existed have none).
    public func requestKeys(shotListID: Int64) throws -> [String: String] {
        let rows = try connection.execute("""
            SELECT job_key, request_key FROM keyfarm.jobs WHERE shot_list_id = $1 AND request_key IS NOT NULL
            """, [shotListID]).rows
        return Dictionary(uniqueKeysWithValues: try rows.map {
            (try $0.decode("job_key", as: String.self), try $0.decode("request_key", as: String.self))
        })
    }

    /// A live shot list's revision number.
    public func revision(shotListID: Int64) throws -> Int {
        try rows(connection.execute("SELECT revision FROM keyfarm.shot_lists WHERE id = $1", [shotListID]).rows)
            .decode("revision", as: Int.self)
    }
}
