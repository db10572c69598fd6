import Foundation
import KeyfarmPostgres

/// Where a stitched shot stands with its reviewer.
public enum ReviewState: String, Sendable, CaseIterable {
    /// Not reviewed yet, or changed since it was (a new take, a resubmission that changed it).
    case pending
    case approved
    /// Rejected, with a note saying why.
    case rejected
}

/// A shot whose review was just set.
public struct ReviewedShot: Sendable, Equatable {
    public var shot: String
    public var state: ReviewState
    /// What it was before.
    public var previous: ReviewState
}

extension FarmStore {
    /// Sets the review of `shots` of a list (all of its stitched shots when nil). A named shot
    /// must exist and be stitched (its shot state `succeeded`): there is nothing to review
    /// before. Nothing changes unless every named shot can be reviewed.
    public func review(shotListID: Int64, shots: [String]?, state: ReviewState, note: String?,
                       by reviewer: String) throws -> [ReviewedShot] {
        try connection.transaction { connection in
            let rows = try connection.execute("""
                SELECT p.shot, p.state, p.review_state, l.name FROM keyfarm.v_shot_progress p
                JOIN keyfarm.shot_lists l ON l.id = p.shot_list_id
                JOIN keyfarm.shots s ON s.id = p.shot_id
                WHERE p.shot_list_id = $1 ORDER BY p.position FOR UPDATE OF s
                """, [shotListID]).rows
            let known = try rows.map { (shot: try $0.decode("shot", as: String.self), state: try $0.decode("state", as: String.self),
                                        review: try $0.decode("review_state", as: String.self)) }
            let listName = try rows.first?.decode("name", as: String.self) ?? "?"
            var chosen: [(shot: String, review: String)] = []
            if let shots {
                for shot in shots {
                    guard let entry = known.first(where: { $0.shot == shot }) else {
                        throw StoreError.noSuchShot(shot: shot, shotList: listName, known: known.map(\.shot))
                    }
                    guard entry.state == "succeeded" else { throw StoreError.notStitched(shot: shot, state: entry.state) }
                    if !chosen.contains(where: { $0.shot == shot }) { chosen.append((shot, entry.review)) }
                }
            } else {
                chosen = known.filter { $0.state == "succeeded" }.map { ($0.shot, $0.review) }
            }
            guard !chosen.isEmpty else { return [] }
            try connection.execute("""
                UPDATE keyfarm.shots SET review_state = $3, review_note = $4, reviewed_at = now(), reviewed_by = $5
                WHERE shot_list_id = $1 AND shot_key = ANY($2::text[])
                """, [shotListID, chosen.map(\.shot), state.rawValue, note, reviewer])
            try connection.notify(FarmStore.jobsChannel, payload: "reviewed:\(shotListID)")
            return chosen.map { ReviewedShot(shot: $0.shot, state: state, previous: ReviewState(rawValue: $0.review) ?? .pending) }
        }
    }
}

/// One revision of a shot list, as `v_revisions` has it.
public struct RevisionSummary: Sendable, Equatable {
    public var shotListID: Int64
    public var project: String
    public var name: String
    public var revision: Int
    public var state: String
    public var replacesID: Int64?
    public var createdAt: Date
    public var submittedBy: String
    public var sourcePath: String
    public var shots: Int
    public var changedShots: [String]
    public var jobs: Int
    public var jobsReusePlanned: Int
    public var jobsReused: Int
    public var jobsRendered: Int
    public var estimatedCredits: Int64
    public var spentCredits: Int64
}

extension FarmStore {
    /// Every revision of the shot list `name` (replaced ones included), oldest first.
    public func revisions(name: String, project: String?) throws -> [RevisionSummary] {
        let rows = try connection.execute("""
            SELECT shot_list_id, project, shot_list, revision, state, replaces_id, created_at, submitted_by, source_path,
                   shots, changed_shots, jobs, jobs_reuse_planned, jobs_reused, jobs_rendered, estimated_credits, spent_credits
            FROM keyfarm.v_revisions WHERE shot_list = $1 AND ($2::text IS NULL OR project = $2)
            ORDER BY project, revision
            """, [name, project]).rows
        let revisions = try rows.map { row in
            RevisionSummary(shotListID: try row.decode("shot_list_id"), project: try row.decode("project"),
                            name: try row.decode("shot_list"), revision: try row.decode("revision"),
                            state: try row.decode("state"), replacesID: try row.decode("replaces_id", as: Int64?.self),
                            createdAt: try row.decode("created_at"), submittedBy: try row.decode("submitted_by"),
                            sourcePath: try row.decode("source_path"), shots: try row.decode("shots"),
                            changedShots: try row.decode("changed_shots"), jobs: try row.decode("jobs"),
                            jobsReusePlanned: try row.decode("jobs_reuse_planned"), jobsReused: try row.decode("jobs_reused"),
                            jobsRendered: try row.decode("jobs_rendered"), estimatedCredits: try row.decode("estimated_credits"),
                            spentCredits: try row.decode("spent_credits"))
        }
        let projects = Set(revisions.map(\.project))
        guard !projects.isEmpty else { throw StoreError.noSuchShotList(name: name, project: project) }
        guard projects.count == 1 else { throw StoreError.ambiguousShotList(name: name, projects: projects.sorted()) }
        return revisions
    }
}

/// What `keyfarm promote` plans from: a live revision's shot list text and its shots.
public struct PromotionSource: Sendable, Equatable {
    public struct Shot: Sendable, Equatable {
        public var key: String
        public var draft: Bool
        public var review: ReviewState
        /// `succeeded` once stitched (see `v_shot_progress.state`).
        public var state: String
    }

    public var shotListID: Int64
    public var project: String
    public var revision: Int
    public var sourcePath: String
    /// Nil for a list submitted before Keyfarm kept the text.
    public var sourceText: String?
    public var shots: [Shot]
}

extension FarmStore {
    /// A live shot list's source and its shots' draft flags and reviews.
    public func promotionSource(name: String, project: String?) throws -> PromotionSource {
        let resolved = try resolveShotList(name: name, project: project)
        let list = try rows(connection.execute("""
            SELECT revision, source_path, source_text FROM keyfarm.shot_lists WHERE id = $1
            """, [resolved.id]).rows)
        let shots = try connection.execute("""
            SELECT s.shot_key, s.draft, s.review_state, p.state FROM keyfarm.shots s
            JOIN keyfarm.v_shot_progress p ON p.shot_id = s.id
            WHERE s.shot_list_id = $1 ORDER BY s.position
            """, [resolved.id]).rows.map { row in
            PromotionSource.Shot(key: try row.decode("shot_key"), draft: try row.decode("draft"),
                                 review: ReviewState(rawValue: try row.decode("review_state")) ?? .pending,
                                 state: try row.decode("state"))
        }
        return PromotionSource(shotListID: resolved.id, project: resolved.project, revision: try list.decode("revision"),
                               sourcePath: try list.decode("source_path"),
                               sourceText: try list.decode("source_text", as: String?.self), shots: shots)
    }
}
