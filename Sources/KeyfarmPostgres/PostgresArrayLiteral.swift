/// Reads and writes PostgreSQL's one-dimensional array text format, e.g. `{a,"b,c",NULL}`.
enum PostgresArrayLiteral {
    /// An array literal with every element double-quoted, so commas, braces, quotes, backslashes,
    /// whitespace and the word NULL all stay data.
    static func format(_ elements: [String?]) -> String {
        // Byte by byte: a quote or backslash is never part of another UTF-8 character, and a
        // reactor formats arrays of thousands of ids a turn.
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(elements.count * 8 + 2)
        for (index, element) in elements.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            guard let element else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(quote)
            for byte in element.utf8 {
                if byte == quote || byte == backslash { bytes.append(backslash) }
                bytes.append(byte)
            }
            bytes.append(quote)
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The elements of a one-dimensional array as PostgreSQL prints it; nil for NULL elements.
    static func parse(_ text: String) throws -> [String?] {
        var scalars = Substring(text).unicodeScalars[...]
        // Arrays with non-default bounds print a dimension prefix: "[0:1]={a,b}".
        if scalars.first == "[", let equals = scalars.firstIndex(of: "=") {
            scalars = scalars[scalars.index(after: equals)...]
        }
        func failure(_ why: String) -> PostgresError {
            PostgresError(context: "reading an array", message: "\(why) in \(PostgresValuePreview.of(text))")
        }
        guard scalars.first == "{", scalars.last == "}" else { throw failure("missing braces") }
        scalars = scalars.dropFirst().dropLast()
        var elements: [String?] = []
        if scalars.allSatisfy({ $0 == " " }) { return elements }

        var iterator = scalars.makeIterator()
        var current = String.UnicodeScalarView()
        var quoted = false
        var sawQuote = false
        var inQuotes = false
        var escaped = false
        func finishElement() {
            if !sawQuote {
                let trimmed = String(current).trimmingASCIISpaces()
                elements.append(trimmed.uppercased() == "NULL" && !quoted ? nil : trimmed)
            } else {
                elements.append(String(current))
            }
            current = String.UnicodeScalarView()
            quoted = false
            sawQuote = false
        }
        while let scalar = iterator.next() {
            if escaped {
                current.append(scalar)
                escaped = false
                if !inQuotes { quoted = true }  // an escaped unquoted NULL is the text "NULL"
                continue
            }
            switch scalar {
            case "\\":
                escaped = true
            case "\"":
                inQuotes.toggle()
                sawQuote = true
            case "," where !inQuotes:
                finishElement()
            case "{" where !inQuotes, "}" where !inQuotes:
                throw failure("nested arrays are not supported")
            default:
                if sawQuote && !inQuotes && scalar != " " { throw failure("text after a closing quote") }
                if sawQuote && !inQuotes { continue }
                current.append(scalar)
            }
        }
        if inQuotes || escaped { throw failure("unterminated quote") }
        finishElement()
        return elements
    }
}
