/// The rows and status of one statement, copied out of libpq so it outlives the connection call.
public struct PostgresResult: Sendable, RandomAccessCollection {
    public let columns: [String]
    public let rows: [PostgresRow]
    /// The number of rows the command touched (PQcmdTuples), 0 when it reports none.
    public let affectedRows: Int
    /// The command tag, e.g. "INSERT 0 1" or "COMMIT".
    public let commandTag: String

    public init(columns: [String], rows: [PostgresRow], affectedRows: Int, commandTag: String) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PostgresRow { rows[position] }
}
