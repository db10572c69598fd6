import Foundation

/// A job's spec: what the plan asks of the engine that runs the job, one `Codable` type per
/// kind of job. The planner writes it (`PlannedJob.spec(in:)`), the store keeps it as JSON in
/// `keyfarm.jobs.spec`, the coordinator passes it through in ASSIGN, and each engine decodes the
/// kind it runs. proto/PROTOCOL.md ("The job spec") documents every field.
///
/// A provider reframe is a segment with `reframe` set, and a stitch at another aspect ratio a
/// stitch with `reframe` set: the wire has three kinds, and so does this type.
public enum JobSpec: JobSpecDocument {
    /// Renders frames `[start_frame, end_frame]` of a shot: locally (`interpolate`) or through a provider.
    case segment(SegmentSpec)
    /// Makes a shot's deliverables from its segments' artifacts.
    case stitch(StitchSpec)
    /// Tests the farm's plumbing: waits, maybe fails, renders nothing.
    case smoke(SmokeSpec)

    /// The `kind` field: `segment`, `stitch` or `smoke`.
    public var kind: String {
        switch self {
        case .segment: SegmentSpec.kind
        case .stitch: StitchSpec.kind
        case .smoke: SmokeSpec.kind
        }
    }

    enum CodingKeys: String, CodingKey { case kind }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind: String = try c.required(.kind)
        switch kind {
        case SegmentSpec.kind: self = .segment(try SegmentSpec(from: decoder))
        case StitchSpec.kind: self = .stitch(try StitchSpec(from: decoder))
        case SmokeSpec.kind: self = .smoke(try SmokeSpec(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription: "is \"\(kind)\", not segment, stitch or smoke")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .segment(let spec): try spec.encode(to: encoder)
        case .stitch(let spec): try spec.encode(to: encoder)
        case .smoke(let spec): try spec.encode(to: encoder)
        }
    }

    /// The earlier generation a spec of any kind names in `reuse` (the worker looks for it
    /// before anything else); nil when it names none.
    public static func reuse(in json: String) throws(JobSpecError) -> Reuse? {
        struct Reusing: Decodable { var reuse: Reuse? }
        return try JobSpecError.reading { try JSONDecoder().decode(Reusing.self, from: Data(json.utf8)).reuse }
    }
}

/// A spec as the JSON the store keeps and ASSIGN carries: compact, keys sorted, a field whose
/// value is absent left out. Decoding ignores fields it does not know, and its error names the
/// field that is missing or wrong.
public protocol JobSpecDocument: Codable, Sendable, Equatable {}

extension JobSpecDocument {
    /// Reads a spec from its JSON.
    public init(json: String) throws(JobSpecError) {
        self = try JobSpecError.reading { try JSONDecoder().decode(Self.self, from: Data(json.utf8)) }
    }

    /// The spec's JSON.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings, whole numbers, finite numbers, bools, arrays and objects: encoding cannot fail.
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// A spec that cannot be read: the field, and what is wrong with it (`spec: frames is missing`).
public struct JobSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field's path, as `segment_jobs[2].key` or `inputs.sh010/s0[0].path`; empty for the spec as a whole.
    public var field: String
    /// What is wrong, as a predicate: `is missing`, `must be a whole number`.
    public var problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { field.isEmpty ? "spec \(problem)" : "spec: \(field) \(problem)" }

    /// Runs a decode, turning its `DecodingError` into one that names the field.
    static func reading<T>(_ decode: () throws -> T) throws(JobSpecError) -> T {
        do {
            return try decode()
        } catch let error as DecodingError {
            throw JobSpecError(error)
        } catch {
            throw JobSpecError(field: "", problem: "cannot be read: \(error)")
        }
    }

    init(_ error: DecodingError) {
        switch error {
        case .keyNotFound(let key, let context):
            self.init(field: Self.path(context.codingPath + [key]), problem: "is missing")
        case .valueNotFound(_, let context):
            self.init(field: Self.path(context.codingPath), problem: "is null")
        case .typeMismatch(let type, let context):
            self.init(field: Self.path(context.codingPath), problem: "must be \(Self.describe(type))")
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            self.init(field: "", problem: "is not valid JSON")
        case .dataCorrupted(let context):
            self.init(field: Self.path(context.codingPath), problem: context.debugDescription)
        @unknown default:
            self.init(field: "", problem: "cannot be read: \(error)")
        }
    }

    /// `segment_jobs[2].key`: names joined by dots, array positions in brackets.
    static func path(_ keys: [any CodingKey]) -> String {
        keys.reduce(into: "") { path, key in
            if let index = key.intValue, key.stringValue.hasPrefix("Index ") {
                path += "[\(index)]"
            } else {
                path += (path.isEmpty ? "" : ".") + key.stringValue
            }
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type: "a whole number"
        case is Double.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is [Any].Type: "a list"
        case is [String: Any].Type: "an object"
        default: "a \(type)"
        }
    }
}

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
}

/// A position in a list, named as the decoder names one.
private struct ListIndex: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}
