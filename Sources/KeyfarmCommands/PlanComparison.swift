import Foundation
import KeyfarmCore
import KeyfarmHarness
import KeyfarmStore

/// A plan set beside a live shot list (`keyfarm plan FILE --against NAME`): which jobs ask
/// something new, and which an earlier generation of the project would stand in for.
struct PlanComparison {
    enum Change: String {
        /// The same request as the compared list's job of that key.
        case same
        /// A job of that key asks something else now.
        case changed
        /// The compared list has no job of that key.
        case new
    }

    var against: String
    var againstID: Int64
    var revision: Int
    var plan: Plan
    /// The compared list's request keys, by job key.
    var previous: [String: String]
    /// What `submit` would reuse now, by job key (shots with `reuse: false` excluded).
    var reuse: [String: ReuseSource]

    init(plan: Plan, against: String, store: FarmStore) throws {
        let list = try store.resolveShotList(name: against, project: plan.project)
        self.against = against
        againstID = list.id
        revision = try store.revision(shotListID: list.id)
        self.plan = plan
        previous = try store.requestKeys(shotListID: list.id)
        let eligible = plan.shots.filter(\.shot.reuse).flatMap(\.jobs)
        reuse = try store.reuseSources(project: plan.project, jobs: eligible)
    }

    func change(of job: PlannedJob) -> Change {
        guard let before = previous[job.key] else { return .new }
        return before == job.requestKey ? .same : .changed
    }

    /// What the jobs nothing stands in for are estimated to cost.
    var remainingCredits: Int {
        plan.jobs.filter { reuse[$0.key] == nil }.reduce(0) { $0 + $1.estimatedCredits }
    }

    var summary: String {
        let jobs = plan.jobs
        let changed = jobs.filter { change(of: $0) != .same }.count
        let reused = jobs.filter { reuse[$0.key] != nil }
        let saved = reused.reduce(0) { $0 + $1.estimatedCredits }
        return "against \(against) (rev \(revision), id \(againstID)): \(changed) of \(jobs.count) jobs changed or new; "
            + "\(reused.count) would reuse an earlier generation (saving \(saved) credits); "
            + "the rest is estimated at \(remainingCredits) credits"
    }

    /// The plan's JSON with an `against` object added.
    func merged(into planJSON: Data) throws -> String {
        guard var object = try JSONSerialization.jsonObject(with: planJSON) as? [String: Any] else {
            throw CommandFailure("internal error: the plan's JSON is not an object", status: ExitStatus.failure)
        }
        object["against"] = [
            "shot_list": against, "id": againstID, "revision": revision,
            "remaining_credits": remainingCredits,
            "jobs": plan.jobs.map { job -> [String: Any] in
                var entry: [String: Any] = ["key": job.key, "change": change(of: job).rawValue,
                                            "request_key": job.requestKey ?? NSNull(),
                                            "estimated_credits": reuse[job.key] == nil ? job.estimatedCredits : 0]
                if let source = reuse[job.key] {
                    entry["reuse"] = ["shot_list": source.shotList, "revision": source.revision,
                                      "job_key": source.sourceJobKey, "job_id": source.sourceJobID,
                                      "attempt": source.attempt, "attempt_id": source.attemptID]
                }
                return entry
            },
        ] as [String: Any]
        let data = try JSONSerialization.data(withJSONObject: object,
                                              options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
