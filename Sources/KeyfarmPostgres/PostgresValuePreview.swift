/// A short, safe rendering of a value for an error message: quoted and cut to a few dozen characters.
enum PostgresValuePreview {
    static func of(_ text: String) -> String {
        let limit = 40
        return text.count <= limit ? "\"\(text)\"" : "\"\(text.prefix(limit))...\""
    }
}

extension String {
    /// The string without leading and trailing ASCII whitespace, as PostgreSQL trims unquoted array elements.
    func trimmingASCIISpaces() -> String {
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, first == " " || first == "\t" || first == "\n" || first == "\r" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" || last == "\n" || last == "\r" { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
