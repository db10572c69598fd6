import CLibPQ
import Foundation
import Logging

/// One libpq connection; used by one thread at a time (not Sendable).
///
/// Every statement goes through `PQexecParams` with text-format parameters, so values never become
/// part of the SQL. Calls block the calling thread: keep them out of actors and async tasks, or give
/// the connection to a thread of its own.
public final class PostgresConnection {
    private var connection: OpaquePointer?
    private var savepointDepth = 0
    /// A transaction opened with `deferringBegin` whose BEGIN waits for its first statement.
    private var beginDeferred = false
    /// Statements prepared on this connection, by their SQL text.
    private var preparedStatements: [String: String] = [:]
    private let logger: Logger
    /// Runs inside every top-level transaction just before its COMMIT; when it throws, the
    /// transaction rolls back and the error is rethrown. A leading coordinator's fence.
    public var commitGuard: ((PostgresConnection) throws -> Void)?

    /// Connects with a `postgresql://` URL or a `key=value` conninfo; PG* environment variables
    /// apply as they do for libpq. The client encoding is always UTF-8, and the application name
    /// defaults to "keyfarm" unless the conninfo or PGAPPNAME gives one. Over TCP, unless the
    /// conninfo says otherwise: connect_timeout=10, keepalives after 10 s idle every 3 s (3
    /// missed: gone), and tcp_user_timeout=15000 ms.
    public init(conninfo: String, logger: Logger) throws {
        self.logger = logger
        // Before `dbname` (which expands the conninfo), so the conninfo may override them: over
        // TCP, a server host that vanishes without closing its connections is given up within
        // seconds rather than TCP's minutes (a coordinator must step down or fail over, not hang).
        var defaults = [("fallback_application_name", "keyfarm"), ("keepalives_idle", "10"), ("keepalives_interval", "3"),
                        ("keepalives_count", "3"), ("tcp_user_timeout", "15000")]
        // Given here it would hide PGCONNECT_TIMEOUT, which libpq reads only for what is not given.
        if ProcessInfo.processInfo.environment["PGCONNECT_TIMEOUT"] == nil { defaults.append(("connect_timeout", "10")) }
        let keywords = defaults.map(\.0) + ["dbname", "client_encoding"]
        let values = defaults.map(\.1) + [conninfo, "UTF8"]
        let connection = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw PostgresError(context: "connecting to the database", message: "out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = PostgresConninfo.redacted(String(cString: PQerrorMessage(connection)).trimmingASCIISpaces())
            PQfinish(connection)
            throw PostgresError(context: "connecting to the database", message: message)
        }
        self.connection = connection
        PQsetNoticeReceiver(connection, { context, result in
            guard let context, let result else { return }
            let connection = Unmanaged<PostgresConnection>.fromOpaque(context).takeUnretainedValue()
            let message = PQresultErrorField(result, diagnosticField("M")).map { String(cString: $0) } ?? ""
            let severity = PQresultErrorField(result, diagnosticField("V")).map { String(cString: $0) } ?? "NOTICE"
            connection.logger.debug("postgres \(severity.lowercased()): \(message)")
        }, Unmanaged.passUnretained(self).toOpaque())
        logger.debug("connected to PostgreSQL", metadata: ["postgres.server_version": "\(PQserverVersion(connection))"])
    }

    deinit { close() }

    /// Closes the connection; calling it again does nothing.
    public func close() {
        guard let connection else { return }
        PQfinish(connection)
        self.connection = nil
    }

    /// Connects again with the same parameters (PQreset) after the server went away. What the
    /// old session had is gone with it: prepared statements (forgotten here, prepared again on
    /// use), open transactions, and LISTENs, which the caller must issue again.
    public func reconnect() throws {
        guard let connection else {
            throw PostgresError(context: "reconnecting to the database", message: "the connection was closed")
        }
        PQreset(connection)
        preparedStatements.removeAll()
        savepointDepth = 0
        beginDeferred = false
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = PostgresConninfo.redacted(String(cString: PQerrorMessage(connection)).trimmingASCIISpaces())
            throw PostgresError(context: "reconnecting to the database", message: message)
        }
        logger.debug("reconnected to PostgreSQL", metadata: ["postgres.server_version": "\(PQserverVersion(connection))"])
    }

    /// After `error`: whether the connection is lost. libpq's own failures (no SQLSTATE, such as
    /// "server closed the connection unexpectedly") are checked with a round trip, since the
    /// status may still look healthy; a statement's own error says nothing about it.
    public func isLost(after error: PostgresError) -> Bool {
        if !isOpen || error.endsTheSession { return true }
        guard error.sqlState == nil else { return false }
        return (try? execute("SELECT 1")) == nil
    }

    /// Whether the connection is open and healthy as far as libpq knows.
    public var isOpen: Bool {
        guard let connection else { return false }
        return PQstatus(connection) == CONNECTION_OK
    }

    /// The socket libpq reads from (PQsocket), for an external poll loop; -1 when closed.
    public var socket: Int32 {
        guard let connection else { return -1 }
        return PQsocket(connection)
    }

    /// The server version as an integer, e.g. 150010 for 15.10; 0 when closed.
    public var serverVersion: Int {
        guard let connection else { return 0 }
        return Int(PQserverVersion(connection))
    }

    /// Runs one statement with bound text-format parameters (`$1`, `$2`, ...), returning its rows.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [any PostgresBindable] = []) throws -> PostgresResult {
        // Named in errors only: a reactor runs thousands of statements a second.
        let context = { "running \(Self.summary(of: sql))" }
        let connection = try open(context: context())
        logger.trace("executing SQL", metadata: ["postgres.sql": "\(Self.summary(of: sql))",
                                                 "postgres.parameters": "\(parameters.count)"])
        let texts = parameters.map(\.postgresText)
        let result = withOptionalCStringArray(texts) { values in
            PQexecParams(connection, sql, Int32(texts.count), nil, values, nil, nil, 0)
        }
        return try consume(result, connection: connection, context: context())
    }

    /// Runs a statement the way `execute` does, but prepares it once per connection (named by
    /// its text) and afterwards only binds and runs it: for the hot statements a reactor runs on
    /// every turn, whose planning would otherwise cost as much as their execution.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [any PostgresBindable] = [], prepared: Bool) throws -> PostgresResult {
        guard prepared else { return try execute(sql, parameters) }
        let context = { "running \(Self.summary(of: sql))" }
        let connection = try open(context: context())
        let name: String
        if let known = preparedStatements[sql] {
            name = known
        } else {
            name = "keyfarm_statement_\(preparedStatements.count + 1)"
            _ = try consume(PQprepare(connection, name, sql, Int32(parameters.count), nil), connection: connection,
                            context: "preparing \(Self.summary(of: sql))")
            preparedStatements[sql] = name
        }
        let texts = parameters.map(\.postgresText)
        let result = withOptionalCStringArray(texts) { values in
            PQexecPrepared(connection, name, Int32(texts.count), values, nil, nil, 0)
        }
        return try consume(result, connection: connection, context: context())
    }

    /// Runs several statements separated by semicolons in one round trip, without parameters.
    /// Meant for migrations; each statement runs in its own transaction unless the script says otherwise.
    public func executeScript(_ sql: String) throws {
        try executeScript(sql, context: "running script \(Self.summary(of: sql))")
    }

    /// Runs a script, naming `context` (e.g. "running migration 3") in any error.
    public func executeScript(_ sql: String, context: String) throws {
        let connection = try open(context: context)
        _ = try consume(PQexec(connection, sql), connection: connection, context: context)
    }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool {
        guard let connection else { return false }
        return beginDeferred || PQtransactionStatus(connection) != PQTRANS_IDLE
    }

    /// Runs `body` inside BEGIN ... COMMIT; rolls back and rethrows the original error if anything throws.
    /// A COMMIT that the server turns into a rollback (the transaction had failed) throws too.
    /// Inside an open transaction it nests as a SAVEPOINT: an error undoes only the body's work,
    /// and the outer transaction's COMMIT decides the rest (this is how callers group commits).
    ///
    /// With `deferringBegin`, BEGIN is sent only with the body's first statement: a body that runs
    /// none costs no round trip at all (no BEGIN, no commit guard, no COMMIT). A reactor's turn
    /// that has nothing to write stays off the database this way.
    public func transaction<T>(deferringBegin: Bool = false, _ body: (PostgresConnection) throws -> T) throws -> T {
        if deferringBegin && !isInTransaction {
            beginDeferred = true
            let value: T
            do {
                value = try body(self)
            } catch {
                if beginDeferred {
                    beginDeferred = false
                    throw error
                }
                try finishFailed(error)
            }
            if beginDeferred {
                beginDeferred = false
                return value
            }
            try commit()
            return value
        }
        if isInTransaction {
            savepointDepth += 1
            defer { savepointDepth -= 1 }
            let name = "keyfarm_savepoint_\(savepointDepth)"
            try execute("SAVEPOINT " + name)
            let value: T
            do {
                value = try body(self)
            } catch {
                _ = try? execute("ROLLBACK TO SAVEPOINT " + name)
                throw error
            }
            try execute("RELEASE SAVEPOINT " + name)
            return value
        }
        try execute("BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            try finishFailed(error)
        }
        try commit()
        return value
    }

    /// Runs the commit guard, then COMMIT; rolls back when the guard throws. A COMMIT the server
    /// turned into a rollback throws.
    private func commit() throws {
        do {
            try commitGuard?(self)
        } catch {
            try finishFailed(error)
        }
        let commit = try execute("COMMIT")
        if commit.commandTag == "ROLLBACK" {
            throw PostgresError(context: "committing a transaction",
                                message: "the transaction had already failed and was rolled back",
                                sqlState: "25P02")
        }
    }

    /// Rolls the open transaction back after `error`, then rethrows it.
    private func finishFailed(_ error: any Error) throws -> Never {
        do {
            try execute("ROLLBACK")
        } catch let rollbackError {
            logger.warning("rollback after a failed transaction also failed: \(rollbackError)")
        }
        throw error
    }

    // MARK: - Internals

    /// The live connection, with a deferred BEGIN sent first.
    private func open(context: @autoclosure () -> String) throws -> OpaquePointer {
        guard let connection else {
            throw PostgresError(context: context(), message: "the connection is closed")
        }
        if beginDeferred {
            beginDeferred = false
            _ = try consume(PQexec(connection, "BEGIN"), connection: connection, context: context() + " (opening its transaction)")
        }
        return connection
    }

    /// Copies a result out of libpq and frees it, or turns it into a `PostgresError`.
    private func consume(_ result: OpaquePointer?, connection: OpaquePointer, context: @autoclosure () -> String) throws -> PostgresResult {
        guard let result else {
            throw PostgresError(context: context(), message: Self.errorMessage(of: connection))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            break
        default:
            func field(_ code: Character) -> String? {
                PQresultErrorField(result, diagnosticField(code)).map { String(cString: $0) }
            }
            let message = field("M") ?? String(cString: PQresultErrorMessage(result)).trimmingASCIISpaces()
            let error = PostgresError(context: context(),
                                      message: message.isEmpty ? Self.errorMessage(of: connection) : message,
                                      sqlState: field("C"), detail: field("D"), hint: field("H"))
            logger.debug("SQL failed", metadata: ["postgres.error": "\(error)"])
            throw error
        }
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<Int32(rowCount) {
            let values: [String?] = (0..<Int32(columnCount)).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
            rows.append(PostgresRow(columns: columns, values: values))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        let tag = String(cString: PQcmdStatus(result))
        return PostgresResult(columns: columns, rows: rows, affectedRows: affected, commandTag: tag)
    }

    static func errorMessage(of connection: OpaquePointer) -> String {
        let message = String(cString: PQerrorMessage(connection)).trimmingASCIISpaces()
        return message.isEmpty ? "unknown libpq error" : message
    }

    /// The first non-empty line of a statement, cut short, for error contexts and logs.
    static func summary(of sql: String) -> String {
        let line = sql.lazy.split(whereSeparator: \.isNewline)
            .map { String($0).trimmingASCIISpaces() }
            .first { !$0.isEmpty } ?? ""
        return line.count <= 80 ? "\"\(line)\"" : "\"\(line.prefix(80))...\""
    }

    var rawConnection: OpaquePointer? { connection }
}

@available(*, unavailable)
extension PostgresConnection: Sendable {}

/// The libpq code of an error field, e.g. "C" for PG_DIAG_SQLSTATE.
func diagnosticField(_ code: Character) -> Int32 {
    Int32(code.asciiValue ?? 0)
}

/// Calls `body` with a NULL-terminated array of C strings that live for the duration of the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Calls `body` with C strings for parameter values, NULL where the value is SQL NULL.
func withOptionalCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let copies = strings.map { $0.map { strdup($0) } ?? nil }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
