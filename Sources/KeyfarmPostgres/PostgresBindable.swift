import Foundation

/// Anything that can be sent as a bound text-format parameter.
///
/// Values always travel as parameters (`$1`, `$2`, ...) next to the SQL, never inside it, so no value
/// can change what a statement does.
public protocol PostgresBindable {
    /// The value in PostgreSQL's text input format; nil sends SQL NULL.
    var postgresText: String? { get }
}

/// SQL NULL as a parameter, for when no typed optional is at hand: `[name, PostgresNull()]` or `[name, .null]`.
public struct PostgresNull: PostgresBindable, Sendable, Equatable {
    public init() {}
    public var postgresText: String? { nil }
}

extension PostgresBindable where Self == PostgresNull {
    /// SQL NULL.
    public static var null: PostgresNull { PostgresNull() }
}

extension String: PostgresBindable {
    public var postgresText: String? { self }
}

extension Substring: PostgresBindable {
    public var postgresText: String? { String(self) }
}

extension Int: PostgresBindable {
    public var postgresText: String? { String(self) }
}

extension Int32: PostgresBindable {
    public var postgresText: String? { String(self) }
}

extension Int64: PostgresBindable {
    public var postgresText: String? { String(self) }
}

extension Double: PostgresBindable {
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return String(self)  // shortest text that reads back as the same Double
    }
}

extension Bool: PostgresBindable {
    public var postgresText: String? { self ? "t" : "f" }
}

extension Date: PostgresBindable {
    public var postgresText: String? { PostgresTimestamp.format(self) }
}

extension UUID: PostgresBindable {
    public var postgresText: String? { uuidString.lowercased() }
}

extension Optional: PostgresBindable where Wrapped: PostgresBindable {
    public var postgresText: String? {
        switch self {
        case .some(let value): value.postgresText
        case .none: nil
        }
    }
}

/// One-dimensional arrays, sent as array literals (`{"a","b,c",NULL}`) with every element quoted.
extension Array: PostgresBindable where Element: PostgresBindable {
    public var postgresText: String? { PostgresArrayLiteral.format(map(\.postgresText)) }
}
