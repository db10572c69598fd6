import Foundation
import CLibPQ

/// Builds, rewrites and redacts libpq connection strings (both `key=value` and `postgresql://` URLs).
public enum PostgresConninfo {
    /// A `key=value` conninfo built from pairs, quoting values as libpq requires.
    public static func make(_ pairs: KeyValuePairs<String, String>) -> String {
        pairs.map { "\($0.key)=\(quote($0.value))" }.joined(separator: " ")
    }

    /// A value quoted for a `key=value` conninfo: bare when safe, otherwise in single quotes.
    public static func quote(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "'" || $0 == "\\" || $0.isWhitespace || $0 == "=" }
        guard needsQuotes else { return value }
        var text = "'"
        for character in value {
            if character == "'" || character == "\\" { text += "\\" }
            text.append(character)
        }
        return text + "'"
    }

    /// The same connection settings with the database replaced, as a `key=value` conninfo.
    public static func replacingDatabase(in conninfo: String, with database: String) throws -> String {
        var pairs = try parse(conninfo).filter { $0.key != "dbname" }
        pairs.append((key: "dbname", value: database))
        return pairs.map { "\($0.key)=\(quote($0.value))" }.joined(separator: " ")
    }

    /// The settings a conninfo names explicitly, in libpq's order; throws if libpq cannot parse it.
    public static func parse(_ conninfo: String) throws -> [(key: String, value: String)] {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(context: "reading the connection string \(redacted(conninfo))",
                                message: message.trimmingASCIISpaces())
        }
        defer { PQconninfoFree(options) }
        var pairs: [(key: String, value: String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                pairs.append((key: String(cString: keyword), value: String(cString: value)))
            }
            option += 1
        }
        return pairs
    }

    /// The conninfo with any password replaced by `***`, safe to log or put in an error.
    public static func redacted(_ conninfo: String) -> String {
        var text = conninfo
        // postgresql://user:secret@host -> postgresql://user:***@host
        if let scheme = text.range(of: "://") {
            let authorityEnd = text[scheme.upperBound...].firstIndex { $0 == "/" || $0 == "?" } ?? text.endIndex
            if let at = text[scheme.upperBound..<authorityEnd].lastIndex(of: "@"),
               let colon = text[scheme.upperBound..<at].firstIndex(of: ":") {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        // password=secret, password = 'sec ret', ?password=secret&...
        var searchStart = text.startIndex
        while let match = text.range(of: "password", options: .caseInsensitive, range: searchStart..<text.endIndex) {
            var cursor = match.upperBound
            while cursor < text.endIndex, text[cursor] == " " { cursor = text.index(after: cursor) }
            guard cursor < text.endIndex, text[cursor] == "=" else { searchStart = match.upperBound; continue }
            cursor = text.index(after: cursor)
            while cursor < text.endIndex, text[cursor] == " " { cursor = text.index(after: cursor) }
            let valueStart = cursor
            if cursor < text.endIndex, text[cursor] == "'" {
                cursor = text.index(after: cursor)
                while cursor < text.endIndex, text[cursor] != "'" {
                    if text[cursor] == "\\", text.index(after: cursor) < text.endIndex { cursor = text.index(after: cursor) }
                    cursor = text.index(after: cursor)
                }
                if cursor < text.endIndex { cursor = text.index(after: cursor) }
            } else {
                while cursor < text.endIndex, text[cursor] != " ", text[cursor] != "&" { cursor = text.index(after: cursor) }
            }
            text.replaceSubrange(valueStart..<cursor, with: "***")
            searchStart = text.index(valueStart, offsetBy: 3)
        }
        return text
    }
}
