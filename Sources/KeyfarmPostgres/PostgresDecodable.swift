import Foundation

/// A value read from a text-format result column.
public protocol PostgresDecodable {
    /// Parses the server's text output for one non-NULL value; throws a `PostgresError` when it does not fit.
    init(postgresText: String) throws
}

private func unreadable(_ text: String, as type: String) -> PostgresError {
    PostgresError(context: "reading a value", message: "cannot read \(PostgresValuePreview.of(text)) as \(type)")
}

extension String: PostgresDecodable {
    public init(postgresText: String) { self = postgresText }
}

extension Int: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Int(postgresText) else { throw unreadable(postgresText, as: "Int") }
        self = value
    }
}

extension Int32: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Int32(postgresText) else { throw unreadable(postgresText, as: "Int32") }
        self = value
    }
}

extension Int64: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Int64(postgresText) else { throw unreadable(postgresText, as: "Int64") }
        self = value
    }
}

extension Double: PostgresDecodable {
    public init(postgresText: String) throws {
        switch postgresText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(postgresText) else { throw unreadable(postgresText, as: "Double") }
            self = value
        }
    }
}

extension Bool: PostgresDecodable {
    public init(postgresText: String) throws {
        switch postgresText {
        case "t", "true", "TRUE", "on", "1", "y", "yes": self = true
        case "f", "false", "FALSE", "off", "0", "n", "no": self = false
        default: throw unreadable(postgresText, as: "Bool")
        }
    }
}

extension Date: PostgresDecodable {
    public init(postgresText: String) throws {
        self = try PostgresTimestamp.parse(postgresText)
    }
}

extension UUID: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = UUID(uuidString: postgresText) else { throw unreadable(postgresText, as: "UUID") }
        self = value
    }
}

/// One-dimensional arrays such as `text[]` and `bigint[]`; a NULL element is an error.
extension Array: PostgresDecodable where Element: PostgresDecodable {
    public init(postgresText: String) throws {
        self = try PostgresArrayLiteral.parse(postgresText).enumerated().map { index, element in
            guard let element else {
                throw PostgresError(context: "reading an array", message: "element \(index + 1) is NULL")
            }
            return try Element(postgresText: element)
        }
    }
}
