import Foundation
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmTestSupport
import Testing

/// A login role, made for one test, that is a member of one of Keyfarm's group roles: how an
/// operator gives the coordinator, the CLI or Grafana its own account.
///
/// Roles belong to the whole server, so each gets a random name and `drop()` removes it.
struct MemberLogin {
    let name: String
    /// The test database as this login (with a password, for servers that ask for one).
    let conninfo: String
    private let owner: FarmStore

    /// Creates the login on the server `owner` is connected to; `owner` must be allowed to create
    /// roles. Without a `group` it is a plain login, with no role attributes.
    init(of group: String?, owner: FarmStore, databaseConninfo: String) throws {
        self.owner = owner
        name = "kf_\((group ?? "plain").replacingOccurrences(of: "keyfarm_", with: ""))_"
            + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
        let password = UUID().uuidString
        // DDL takes no bound parameters: format() quotes the name and password on the server.
        let statement = try owner.connection.execute("""
            SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)
                   || CASE WHEN $3::text IS NULL THEN '' ELSE format(' IN ROLE %I', $3::text) END AS sql
            """, [name, password, group]).rows[0].decode("sql", as: String.self)
        try owner.connection.execute(statement)
        var pairs = try PostgresConninfo.parse(databaseConninfo).filter { $0.key != "user" && $0.key != "password" }
        pairs.append((key: "user", value: name))
        pairs.append((key: "password", value: password))
        conninfo = pairs.map { "\($0.key)=\(PostgresConninfo.quote($0.value))" }.joined(separator: " ")
    }

    /// A store connected as this login.
    func store() throws -> FarmStore {
        try FarmStore(conninfo: conninfo, logger: testLogger)
    }

    /// Drops the login (close its connections first).
    func drop() throws {
        try owner.connection.execute("DROP ROLE " + PostgresIdentifier.quoted(name))
    }
}

/// A migrated database of its own, with its owner's store and conninfo.
func freshOwnedStore() throws -> (store: FarmStore, conninfo: String) {
    let conninfo = try TestPostgres.freshDatabase()
    let store = try FarmStore(conninfo: conninfo, logger: testLogger)
    try store.migrate()
    return (store, conninfo)
}

/// Expects `body` to be refused for want of a privilege (SQLSTATE 42501), or with one of `also`.
func expectDenied(_ what: String, also: Set<String> = [], sourceLocation: SourceLocation = #_sourceLocation,
                  _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("\(what): allowed, expected permission denied", sourceLocation: sourceLocation)
    } catch let error as PostgresError {
        #expect(also.union(["42501"]).contains(error.sqlState ?? ""), "\(what): \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what): \(error), expected permission denied", sourceLocation: sourceLocation)
    }
}
