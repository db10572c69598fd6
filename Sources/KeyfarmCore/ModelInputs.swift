/// How one provider model names its inputs: the field that takes the start image, the one that
/// takes the end image (or none: some models cannot be pinned at the end), how it writes a
/// duration, how it is told the picture size, and the field for the aspect ratio.
///
/// fal and WaveSpeed host hundreds of models, each with its own input schema; the names are
/// not derivable from the model id (fal's Kling 2.5 takes `tail_image_url`, Kling 2.6
/// `end_image_url`), so they are data: `ModelInputTable.builtIn`, plus an operator's own
/// mappings (`keyfarm providers model set`). Pure; encoded into each segment job's spec as
/// `model_inputs` so the worker builds the body the operator configured.
public struct ModelInputs: Sendable, Equatable, Codable {
    /// How the model writes a clip length.
    public enum DurationFormat: String, Sendable, CaseIterable, Codable {
        /// A JSON integer: `5` (WaveSpeed).
        case integer = "int"
        /// A string of digits: `"5"` (fal's Kling).
        case string
        /// Luma's string with a unit: `"5s"` (Luma on fal).
        case luma
    }

    /// Which field tells the model the picture size, if any.
    public enum ResolutionField: String, Sendable, CaseIterable, Codable {
        /// `resolution: "720p"`.
        case resolution
        /// `size: "1280*720"`: width and height (WaveSpeed's Luma models).
        case size
        /// The model follows its input image, or its id names the size.
        case none
    }

    /// The start image's field; nil for a model that takes no image (text-to-video).
    public var startField: String?
    /// The end image's field; nil for a model that cannot be given an end frame.
    public var endField: String?
    public var duration: DurationFormat
    public var resolutionField: ResolutionField
    /// The values the resolution (`720p`) or size (`1280*720`) field accepts; empty means any.
    public var resolutions: [String]
    /// The aspect ratio's field (`aspect_ratio`); nil when the model follows its input image.
    public var aspectField: String?

    public init(startField: String?, endField: String?, duration: DurationFormat,
                resolutionField: ResolutionField = .none, resolutions: [String] = [], aspectField: String? = nil) {
        self.startField = startField
        self.endField = endField
        self.duration = duration
        self.resolutionField = resolutionField
        self.resolutions = resolutions
        self.aspectField = aspectField
    }

    enum CodingKeys: String, CodingKey {
        case startField = "start_field", endField = "end_field", duration, resolutionField = "resolution_field"
        case resolutions, aspectField = "aspect_field"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(startField, forKey: .startField)  // null: no start image
        try c.encode(endField, forKey: .endField)      // null: no end frame
        try c.encode(duration, forKey: .duration)
        try c.encode(resolutionField, forKey: .resolutionField)
        try c.encode(resolutions, forKey: .resolutions)
        try c.encode(aspectField, forKey: .aspectField)
    }

    /// A clip length as the model writes it: a JSON number or a string.
    public enum DurationValue: Sendable, Equatable, Encodable {
        case integer(Int)
        case text(String)

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .integer(let seconds): try c.encode(seconds)
            case .text(let text): try c.encode(text)
            }
        }
    }

    public func durationValue(seconds: Int) -> DurationValue {
        switch duration {
        case .integer: .integer(seconds)
        case .string: .text("\(seconds)")
        case .luma: .text("\(seconds)s")
        }
    }

    /// The value of the resolution or size field for a shot's resolution (`540p`) and aspect
    /// (`16:9`), or nil when the model takes neither. A resolution the model does not list is
    /// raised to the smallest it lists that is at least as sharp (WaveSpeed has no 540p: 720p),
    /// else the sharpest; a size is the listed one of the same orientation nearest in short side.
    public func resolutionValue(resolution: String, aspect: String) -> String? {
        let wanted = Self.shortSide(resolution) ?? 720
        switch resolutionField {
        case .none:
            return nil
        case .resolution:
            guard !resolutions.isEmpty, !resolutions.contains(resolution) else { return resolution }
            let listed = resolutions.compactMap { value in Self.shortSide(value).map { (value, $0) } }
            return (listed.filter { $0.1 >= wanted }.min { $0.1 < $1.1 } ?? listed.max { $0.1 < $1.1 })?.0 ?? resolutions[0]
        case .size:
            let ratio = Self.ratio(aspect) ?? (16, 9)
            let orientation = ratio.0 == ratio.1 ? 0 : ratio.0 > ratio.1 ? 1 : -1
            guard !resolutions.isEmpty else {
                func even(_ value: Int) -> Int { value % 2 == 0 ? value : value + 1 }
                let long = even((wanted * max(ratio.0, ratio.1) + min(ratio.0, ratio.1) / 2) / min(ratio.0, ratio.1))
                return orientation >= 0 ? "\(long)*\(wanted)" : "\(wanted)*\(long)"
            }
            let sizes = resolutions.compactMap { value -> (String, Int, Int)? in
                guard let (width, height) = Self.size(value) else { return nil }
                return (value, width == height ? 0 : width > height ? 1 : -1, min(width, height))
            }
            let best = sizes.min { a, b in
                let ka = (a.1 == orientation ? 0 : 1, abs(a.2 - wanted)), kb = (b.1 == orientation ? 0 : 1, abs(b.2 - wanted))
                return ka < kb
            }
            return best?.0 ?? resolutions[0]
        }
    }

    /// `720` of `720p`.
    static func shortSide(_ resolution: String) -> Int? {
        guard resolution.hasSuffix("p") else { return nil }
        return Int(resolution.dropLast())
    }

    /// `(16, 9)` of `16:9`.
    static func ratio(_ aspect: String) -> (Int, Int)? {
        let parts = aspect.split(separator: ":")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0 else { return nil }
        return (w, h)
    }

    /// `(1280, 720)` of `1280*720` (or `1280x720`).
    static func size(_ text: String) -> (Int, Int)? {
        let parts = text.split(whereSeparator: { $0 == "*" || $0 == "x" })
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0 else { return nil }
        return (w, h)
    }

    /// Whether a text is a plausible input field name: `image_url`, `end_image`.
    public static func isFieldName(_ text: String) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter, text.count <= 64 else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// Whether a text is a value the resolution field may list: `720p`, or a size `1280*720`.
    public static func isResolutionValue(_ text: String, field: ResolutionField) -> Bool {
        switch field {
        case .resolution: shortSide(text).map { (1...8192).contains($0) } ?? false
        case .size: size(text).map { $0.0 <= 8192 && $0.1 <= 8192 } ?? false
        case .none: false
        }
    }

    /// One line for `keyfarm providers model list`: `image_url -> tail_image_url, duration string`.
    public var summary: String {
        var parts = ["start \(startField ?? "none")", "end \(endField ?? "none")", "duration \(duration.rawValue)"]
        switch resolutionField {
        case .none: parts.append("no resolution")
        case .resolution, .size:
            parts.append("\(resolutionField.rawValue) " + (resolutions.isEmpty ? "any" : resolutions.joined(separator: "|")))
        }
        parts.append("aspect \(aspectField ?? "none")")
        return parts.joined(separator: ", ")
    }
}
