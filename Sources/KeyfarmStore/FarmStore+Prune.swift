import Foundation
import KeyfarmPostgres

/// A job `keyfarm prune` may delete the files of, and why.
public struct PruneCandidate: Sendable, Equatable {
    public struct File: Sendable, Equatable {
        /// Relative to the storage root; an EXR sequence by its pattern.
        public var path: String
        public var frames: Int
        public var bytes: Int64
        /// The root of the worker that wrote it, as that worker mounts it.
        public var storageRoot: String?
    }

    public var jobID: Int64
    public var jobKey: String
    public var revision: Int
    public var take: Int
    /// `unselected take` or `replaced revision`.
    public var reason: String
    public var files: [File]
}

extension FarmStore {
    /// What `keyfarm prune` would delete for the live list `shotListID`: its finished takes no
    /// stitch uses, and with `replacedRevisions` every job of the list's replaced revisions;
    /// each with its files, less every file a job that stays (in any list of the project) also
    /// names: a reused generation's files belong to every job that reused them.
    public func pruneCandidates(shotListID: Int64, replacedRevisions: Bool) throws -> [PruneCandidate] {
        let rows = try connection.execute("""
            WITH list AS (
                SELECT id, project, name FROM keyfarm.shot_lists WHERE id = $1
            ), candidates AS (
                SELECT j.id, 'unselected take' AS reason FROM keyfarm.jobs j
                WHERE j.shot_list_id = $1 AND j.kind = 'segment' AND NOT j.spec ? 'reframe' AND j.pruned_at IS NULL
                  AND j.state IN ('succeeded', 'failed', 'cancelled')
                  AND NOT EXISTS (SELECT 1 FROM keyfarm.job_dependencies d JOIN keyfarm.jobs st ON st.id = d.job_id
                                  WHERE d.depends_on = j.id AND st.kind = 'stitch')
                  AND NOT EXISTS (SELECT 1 FROM keyfarm.job_dependencies d JOIN keyfarm.jobs n ON n.id = d.job_id
                                  WHERE d.depends_on = j.id AND n.state NOT IN ('succeeded', 'failed', 'cancelled'))
                UNION ALL
                SELECT j.id, 'replaced revision' FROM keyfarm.jobs j
                JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id, list
                WHERE $2 AND l.project = list.project AND l.name = list.name AND l.state = 'replaced' AND j.pruned_at IS NULL
            ), kept AS (
                SELECT DISTINCT a.item->>'path' AS path
                FROM keyfarm.jobs j JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id, list,
                     jsonb_array_elements(CASE WHEN jsonb_typeof(j.artifacts) = 'array' THEN j.artifacts ELSE '[]' END) AS a(item)
                WHERE l.project = list.project AND j.pruned_at IS NULL AND j.id NOT IN (SELECT id FROM candidates)
            )
            SELECT j.id, j.job_key, l.revision, j.take, c.reason,
                   COALESCE((SELECT jsonb_agg(a.item) FROM jsonb_array_elements(
                                 CASE WHEN jsonb_typeof(j.artifacts) = 'array' THEN j.artifacts ELSE '[]' END) AS a(item)
                              WHERE a.item->>'path' NOT IN (SELECT path FROM kept WHERE path IS NOT NULL)), '[]')::text AS files
            FROM candidates c JOIN keyfarm.jobs j ON j.id = c.id JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
            ORDER BY l.revision, j.id
            """, [shotListID, replacedRevisions]).rows
        return try rows.map { row in
            let files = (try JSONSerialization.jsonObject(with: Data(try row.decode("files", as: String.self).utf8)) as? [[String: Any]]) ?? []
            return PruneCandidate(
                jobID: try row.decode("id"), jobKey: try row.decode("job_key"), revision: try row.decode("revision"),
                take: try row.decode("take"), reason: try row.decode("reason"),
                files: files.compactMap { item in
                    guard let path = item["path"] as? String else { return nil }
                    return PruneCandidate.File(path: path, frames: (item["frames"] as? NSNumber)?.intValue ?? 0,
                                               bytes: (item["bytes"] as? NSNumber)?.int64Value ?? 0,
                                               storageRoot: item["storage_root"] as? String)
                })
        }
    }

    /// Marks jobs whose files `keyfarm prune` deleted: never reused again; their rows stay.
    public func markPruned(jobIDs: [Int64]) throws {
        guard !jobIDs.isEmpty else { return }
        try connection.execute("UPDATE keyfarm.jobs SET pruned_at = now() WHERE id = ANY($1::bigint[]) AND pruned_at IS NULL",
                               [jobIDs])
    }
}
