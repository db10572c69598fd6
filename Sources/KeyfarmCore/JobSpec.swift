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
