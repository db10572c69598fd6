/// What the store can refuse, in words an operator can act on.
public enum StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    case shotListExists(project: String, name: String, id: Int64)
    case noSuchShotList(name: String, project: String?)
    case ambiguousShotList(name: String, projects: [String])
    /// `keyfarm logs JOB` named no job; `reason` says what was looked for.
    case noSuchJob(reference: String, reason: String)
    case schemaBehind(current: Int, required: Int)
    case schemaAhead(current: Int, known: Int)
    case migrationChanged(version: Int, name: String)
    /// A shot id the list does not have.
    case noSuchShot(shot: String, shotList: String, known: [String])
    /// A shot that cannot be reviewed yet: nothing stitched to look at.
    case notStitched(shot: String, state: String)
    /// `retake`/`select` named no segment job of the list.
    case noSuchSegment(reference: String, shotList: String, known: [String])
    /// `select` named a take the segment does not have.
    case noSuchTake(segment: String, take: Int, takes: [Int])
    /// A retake or a selection that cannot be made now; the reason says why and what to do.
    case takeRefused(String)

    public var description: String {
        switch self {
        case .shotListExists(let project, let name, let id):
            "shot list \"\(name)\" already exists in project \"\(project)\" (id \(id)); use --replace to replace it"
        case .noSuchShotList(let name, let project):
            "no shot list named \"\(name)\"" + (project.map { " in project \"\($0)\"" } ?? "")
        case .ambiguousShotList(let name, let projects):
            "\"\(name)\" names shot lists in several projects (\(projects.joined(separator: ", "))); choose one with --project"
        case .noSuchJob(let reference, let reason):
            "no job \"\(reference)\": \(reason)"
        case .schemaBehind(let current, let required):
            "the database schema is at version \(current), this keyfarm needs \(required); run `keyfarm migrate`"
        case .schemaAhead(let current, let known):
            "the database schema is at version \(current), newer than this keyfarm knows (\(known)); upgrade keyfarm"
        case .noSuchShot(let shot, let shotList, let known):
            "shot list \"\(shotList)\" has no shot \"\(shot)\" (its shots: \(known.joined(separator: ", ")))"
        case .notStitched(let shot, let state):
            "\(shot) is not stitched yet (\(state)); review it once it is"
        case .noSuchSegment(let reference, let shotList, let known):
            "shot list \"\(shotList)\" has no segment \"\(reference)\"; give SHOT/SEGMENT as its jobs are keyed ("
                + (known.count > 8 ? known.prefix(8).joined(separator: ", ") + ", ..." : known.joined(separator: ", ")) + ")"
        case .noSuchTake(let segment, let take, let takes):
            "\(segment) has no take \(take) (its takes: \(takes.map(String.init).joined(separator: ", ")))"
        case .takeRefused(let reason):
            reason
        case .migrationChanged(let version, let name):
            "migration \(version) (\(name)) differs from the one applied to this database; applied migrations must never be edited"
        }
    }
}
