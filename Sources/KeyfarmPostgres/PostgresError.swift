/// A failure talking to PostgreSQL or reading what it returned, with the server's SQLSTATE when there is one.
///
/// `context` says what Keyfarm was doing ("connecting to the database", "running migration 1"), so a
/// message reads as a sentence an operator can act on. Errors never carry passwords: conninfo strings
/// are redacted before they are put into one.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// The five-character SQLSTATE (e.g. "23505"); nil for connection-level and client-side errors.
    public var sqlState: String?
    /// The primary message, as the server or libpq wrote it.
    public var message: String
    public var detail: String?
    public var hint: String?
    /// What we were doing when it failed.
    public var context: String

    public init(context: String, message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil) {
        self.context = context
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
    }

    public var description: String {
        var text = "\(context): \(message)"
        if let detail, !detail.isEmpty { text += " (\(detail))" }
        if let hint, !hint.isEmpty { text += " Hint: \(hint)" }
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        return text
    }

    /// A unique or primary-key constraint rejected the row (23505).
    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// The transaction lost a serialization race or a deadlock (40001, 40P01) and may simply be retried.
    public var isSerializationFailure: Bool { sqlState == "40001" || sqlState == "40P01" }

    /// The server says the session is over: class 08 (connection exceptions), the server shutting
    /// down (57P01 to 57P03), or a transaction left idle past its timeout (25P03).
    public var endsTheSession: Bool {
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03", "25P03"].contains(sqlState)
    }

    /// A foreign-key constraint rejected the change (23503).
    public var isForeignKeyViolation: Bool { sqlState == "23503" }

    /// The server refused this one statement (bad data, a constraint, a missing privilege) and the
    /// connection is still good: SQLSTATE classes 22, 23, 42, 44 and P0. Connection losses,
    /// shutdowns, resource exhaustion and internal errors are not.
    public var isStatementError: Bool {
        guard let sqlState, sqlState.count == 5 else { return false }
        return ["22", "23", "42", "44", "P0"].contains(String(sqlState.prefix(2)))
    }
}
