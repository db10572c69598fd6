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
        case .migrationChanged(let version, let name):
            "migration \(version) (\(name)) differs from the one applied to this database; applied migrations must never be edited"
        }
    }
}
