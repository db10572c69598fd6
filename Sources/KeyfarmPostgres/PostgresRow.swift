/// One row of a result, in text format, read by column name.
public struct PostgresRow: Sendable {
    public let columns: [String]
    /// The text of each column, nil for NULL, in the order of `columns`.
    public let values: [String?]

    public init(columns: [String], values: [String?]) {
        self.columns = columns
        self.values = values
    }

    /// The raw text of a column; nil when the value is NULL or there is no such column.
    public subscript(_ column: String) -> String? {
        guard let index = columns.firstIndex(of: column) else { return nil }
        return values[index]
    }

    /// A non-NULL column as `T`; the error names the column when it is missing, NULL or unreadable.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let value = try decode(column, as: T?.self) else {
            throw PostgresError(context: "reading column \"\(column)\"", message: "the value is NULL, expected \(T.self)")
        }
        return value
    }

    /// A column as `T`, or nil when it is NULL; the error names the column when it is missing or unreadable.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T?.Type) throws -> T? {
        guard let index = columns.firstIndex(of: column) else {
            throw PostgresError(context: "reading column \"\(column)\"",
                                message: "no such column; the result has \(columns.joined(separator: ", "))")
        }
        guard let text = values[index] else { return nil }
        do {
            return try T(postgresText: text)
        } catch let error as PostgresError {
            throw PostgresError(context: "reading column \"\(column)\"", message: error.message)
        } catch {
            throw PostgresError(context: "reading column \"\(column)\"", message: "\(error)")
        }
    }
}
