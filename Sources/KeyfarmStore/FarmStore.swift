import KeyfarmPostgres
import Logging

/// The farm's state in PostgreSQL: every statement Keyfarm runs lives behind this type, so the
/// SQL can be read (and reviewed for bound parameters) in one place.
///
/// A store wraps one connection and, like it, is used by one thread at a time.
public final class FarmStore {
    public let connection: PostgresConnection
    let logger: Logger

    /// The channel every change that may make work claimable is announced on; the coordinator
    /// LISTENs to it. Payloads: `submitted:<list id>`, `released:<job id>`, `cancelled:<list id>`.
    public static let jobsChannel = "keyfarm_jobs"

    public init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    public convenience init(conninfo: String, logger: Logger) throws {
        self.init(connection: try PostgresConnection(conninfo: conninfo, logger: logger), logger: logger)
    }

    public var migrator: Migrator { Migrator(connection: connection, logger: logger) }

    /// Applies pending migrations, then adds any default prices the table lacks.
    @discardableResult
    public func migrate() throws -> [Migration] {
        let applied = try migrator.migrate()
        try seedPrices()
        return applied
    }

    /// Finds the live shot list called `name`, in `project` when given.
    public func resolveShotList(name: String, project: String?) throws -> (id: Int64, project: String) {
        let rows = try connection.execute("""
            SELECT id, project FROM keyfarm.shot_lists
            WHERE name = $1 AND state <> 'replaced' AND ($2::text IS NULL OR project = $2)
            ORDER BY project
            """, [name, project]).rows
        guard let first = rows.first else { throw StoreError.noSuchShotList(name: name, project: project) }
        guard rows.count == 1 else {
            throw StoreError.ambiguousShotList(name: name, projects: try rows.map { try $0.decode("project", as: String.self) })
        }
        return (try first.decode("id", as: Int64.self), try first.decode("project", as: String.self))
    }

    /// Registers a worker by name (or refreshes it) and returns its id; `connectWorker` without an instance.
    @discardableResult
    public func registerWorker(name: String, host: String?, version: String?, engines: [String], slots: Int) throws -> Int64 {
        try connectWorker(name: name, host: host, version: version, engines: engines, slots: slots, instance: nil).id
    }

    func rows(_ rows: [PostgresRow]) throws -> PostgresRow {
        guard let first = rows.first else {
            throw PostgresError(context: "reading a RETURNING clause", message: "the statement returned no row")
        }
        return first
    }
}
