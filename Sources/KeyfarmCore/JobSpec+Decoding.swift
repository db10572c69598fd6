/// Reading specs: required fields, defaults, and names from closed sets, each with an error
/// `JobSpecError` can name.
extension KeyedDecodingContainer {
    /// A field the spec cannot do without: its absence is an error naming it.
    func required<T: Decodable>(_ key: Key) throws -> T { try decode(T.self, forKey: key) }

    /// A field that may be absent (or null).
    func optional<T: Decodable>(_ key: Key) throws -> T? { try decodeIfPresent(T.self, forKey: key) }

    /// A field that takes `fallback` when absent (or null).
    func value<T: Decodable>(_ key: Key, or fallback: T) throws -> T { try decodeIfPresent(T.self, forKey: key) ?? fallback }

    /// One of a closed set of names (a resolution, an output format), with an error listing them.
    func choice<T: RawRepresentable & CaseIterable>(_ key: Key) throws -> T where T.RawValue == String {
        try Self.choice(try decode(String.self, forKey: key), key: key, in: self)
    }

    func choice<T: RawRepresentable & CaseIterable>(_ key: Key, or fallback: T) throws -> T where T.RawValue == String {
        guard let name = try decodeIfPresent(String.self, forKey: key) else { return fallback }
        return try Self.choice(name, key: key, in: self)
    }

    /// A list of such names, with an error naming the position of one it does not know.
    func choices<T: RawRepresentable & CaseIterable>(_ key: Key, or fallback: [T]) throws -> [T] where T.RawValue == String {
        guard let names = try decodeIfPresent([String].self, forKey: key) else { return fallback }
        return try names.enumerated().map { index, name in
            guard let value = T(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: codingPath + [key, ListIndex(index)],
                    debugDescription: "is \"\(name)\", not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            return value
        }
    }

    static func choice<T: RawRepresentable & CaseIterable>(_ name: String, key: Key, in container: Self) throws -> T
    where T.RawValue == String {
        guard let value = T(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container,
                debugDescription: "is \"\(name)\", not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// A frame rate as `fps_rational` writes it: `"24"` or `"24000/1001"`.
    func frameRate(_ key: Key) throws -> FrameRate {
        try Self.frameRate(try decode(String.self, forKey: key), key: key, in: self)
    }

    func optionalFrameRate(_ key: Key) throws -> FrameRate? {
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return nil }
        return try Self.frameRate(text, key: key, in: self)
    }

    static func frameRate(_ text: String, key: Key, in container: Self) throws -> FrameRate {
        guard let rate = FrameRate(text: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container,
                debugDescription: "is \"\(text)\", not one of \(FrameRate.allowed.map(\.description).joined(separator: ", "))")
        }
        return rate
    }
}

/// A position in a list, named as the decoder names one.
private struct ListIndex: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}
