/// The input fields of the fal and WaveSpeed models Keyfarm knows, by engine name, with the
/// mappings an operator added (`keyfarm providers model set`) taking precedence.
///
/// Pure data. The built-in rows follow each model's published input schema; a model not in
/// the table still renders from a start image or a prompt (`fallback`), but it cannot be given
/// an end image: `keyfarm plan` and `submit` refuse such a segment rather than guess a field
/// name the provider would silently ignore.
public struct ModelInputTable: Sendable, Equatable {
    /// Mappings an operator stored, by engine name (`fal/fal-ai/...`, `wavespeed/...`).
    public var operatorEntries: [String: ModelInputs]

    public init(operatorEntries: [String: ModelInputs] = [:]) {
        self.operatorEntries = operatorEntries
    }

    /// The built-in table alone.
    public static let builtIn = ModelInputTable()

    /// Where a model's mapping came from.
    public enum Source: String, Sendable {
        case builtIn = "built-in"
        case `operator`
    }

    /// A model's mapping, the operator's before the built-in one; nil for an unknown model.
    public func inputs(for engine: Engine) -> ModelInputs? {
        lookup(engine)?.inputs
    }

    public func lookup(_ engine: Engine) -> (inputs: ModelInputs, source: Source)? {
        if let entry = operatorEntries[engine.name] { return (entry, .operator) }
        if let entry = Self.known[engine.name] { return (entry, .builtIn) }
        return nil
    }

    /// The inputs assumed for a model the table does not know: the provider's usual start
    /// field, resolution and aspect ratio, and no end frame (its name varies too much to guess).
    public static func fallback(for engine: Engine) -> ModelInputs? {
        switch engine {
        case .fal:
            ModelInputs(startField: "image_url", endField: nil, duration: .string, resolutionField: .resolution,
                        aspectField: "aspect_ratio")
        case .wavespeed:
            ModelInputs(startField: "image", endField: nil, duration: .integer, resolutionField: .resolution,
                        resolutions: waveSpeedResolutions, aspectField: "aspect_ratio")
        default:
            nil
        }
    }

    /// Whether an engine's request body is built from this table (fal and WaveSpeed models).
    public static func applies(to engine: Engine) -> Bool {
        switch engine {
        case .fal, .wavespeed: true
        default: false
        }
    }

    /// WaveSpeed renders at these resolutions (no 540p).
    static let waveSpeedResolutions = ["480p", "720p", "1080p"]

    /// Every built-in mapping, by engine name.
    public static let known: [String: ModelInputs] = {
        var table: [String: ModelInputs] = [:]
        // fal: Kling 1.x to 2.5 take image_url and tail_image_url and follow the input image's
        // framing; Kling 2.6 and 3 renamed them start_image_url and end_image_url. Kling 1.0
        // standard has no end frame. Durations are the strings "5" and "10".
        let klingLegacy = ModelInputs(startField: "image_url", endField: "tail_image_url", duration: .string)
        for model in ["v1.6/pro", "v2.1/pro", "v2.5-turbo/pro"] {
            table["fal/fal-ai/kling-video/\(model)/image-to-video"] = klingLegacy
        }
        table["fal/fal-ai/kling-video/v1/standard/image-to-video"] =
            ModelInputs(startField: "image_url", endField: nil, duration: .string)
        let klingNew = ModelInputs(startField: "start_image_url", endField: "end_image_url", duration: .string)
        for model in ["v2.6/pro", "v3/pro"] {
            table["fal/fal-ai/kling-video/\(model)/image-to-video"] = klingNew
        }
        // Luma's Ray 2 on fal: Luma's own "5s"/"9s", resolution and aspect ratio.
        let lumaOnFal = ModelInputs(startField: "image_url", endField: "end_image_url", duration: .luma,
                                    resolutionField: .resolution, resolutions: ["540p", "720p", "1080p"],
                                    aspectField: "aspect_ratio")
        for model in ["ray-2", "ray-2-flash"] {
            table["fal/fal-ai/luma-dream-machine/\(model)/image-to-video"] = lumaOnFal
        }

        // WaveSpeed: images are `image` plus the model's own end field; durations integers.
        table["wavespeed/kwaivgi/kling-v2.1-i2v-pro"] = ModelInputs(startField: "image", endField: "end_image", duration: .integer)
        table["wavespeed/kwaivgi/kling-v2.5-turbo-pro/image-to-video"] =
            ModelInputs(startField: "image", endField: "last_image", duration: .integer)
        table["wavespeed/kwaivgi/kling-v2.6-pro/image-to-video"] =
            ModelInputs(startField: "image", endField: "end_image", duration: .integer)
        // Wan 2.2's model id names its resolution.
        for model in ["i2v-480p", "i2v-720p"] {
            table["wavespeed/wavespeed-ai/wan-2.2/\(model)"] = ModelInputs(startField: "image", endField: "last_image", duration: .integer)
        }
        table["wavespeed/wavespeed-ai/wan-2.2/t2v-480p"] = ModelInputs(startField: nil, endField: nil, duration: .integer)
        // Luma's Ray 2 on WaveSpeed: a size, no end frame.
        for model in ["ray-2-i2v", "ray-2-flash-i2v"] {
            table["wavespeed/luma/\(model)"] = ModelInputs(startField: "image", endField: nil, duration: .integer,
                                                          resolutionField: .size, resolutions: ["1280*720", "720*1280"])
        }
        return table
    }()

    /// The resolutions WaveSpeed models take, for an operator's mapping that lists none.
    public static func defaultResolutions(provider: String?, field: ModelInputs.ResolutionField) -> [String] {
        provider == "wavespeed" && field == .resolution ? waveSpeedResolutions : []
    }
}

extension ShotList {
    /// Segments the table cannot render as written: a fal or WaveSpeed model asked to end on a
    /// keyframe image when its end-frame field is unknown, or when it takes no end frame.
    /// Each issue names the keyframe's image (`shots[0].keyframes[2].image`), the segment, the
    /// engine, and how to fix it.
    public func modelInputIssues(_ table: ModelInputTable) -> [ShotListIssue] {
        var issues: [ShotListIssue] = []
        for (s, shot) in shots.enumerated() {
            for segment in 0..<Swift.max(shot.keyframes.count - 1, 0) {
                let engine = shot.segmentOverrides[segment]?.engine ?? shot.engine
                guard ModelInputTable.applies(to: engine), shot.keyframes[segment + 1].image != nil else { continue }
                let path = "shots[\(s)].keyframes[\(segment + 1)].image"
                let engineAt = shot.segmentOverrides[segment]?.engine != nil
                    ? "shots[\(s)].segments[\"\(segment)\"].engine" : "shots[\(s)].engine"
                switch table.lookup(engine) {
                case nil:
                    issues.append(ShotListIssue(file: sourcePath, path: path, message: """
                        segment \(segment) of shot \(shot.id) ends on this image, but the end-frame field of \(engine) \
                        (\(engineAt)) is unknown; add the model's mapping with `keyfarm providers model set \(engine) \
                        --start-field FIELD --end-field FIELD ...`, pick a model Keyfarm knows, or remove the image
                        """))
                case let (inputs, source)? where inputs.endField == nil:
                    issues.append(ShotListIssue(file: sourcePath, path: path, message: """
                        segment \(segment) of shot \(shot.id) ends on this image, but \(engine) (\(engineAt)) takes no \
                        end frame (end field: none, \(source.rawValue) mapping); use a model with an end-frame field \
                        for this segment, or remove the image
                        """))
                default:
                    break
                }
            }
        }
        return issues
    }
}
