/// What renders a segment: local interpolation or one provider model.
public enum Engine: Sendable, Hashable, CustomStringConvertible {
    case interpolate
    case lumaRay2
    case lumaRayFlash2
    case lumaRay32
    /// A model on fal.ai's queue API, by its model id (`fal-ai/kling-video/...`).
    case fal(model: String)
    /// A model on WaveSpeed's API, by its model id.
    case wavespeed(model: String)

    /// The engines a shot list may name, as error messages list them.
    public static let knownNames = [
        "interpolate", "luma/ray-2", "luma/ray-flash-2", "luma/ray-3.2",
        "fal/<model id>", "wavespeed/<model id>",
    ]

    /// Reads an engine name as a shot list writes it; nil when it names no known engine.
    public init?(name: String) {
        switch name {
        case "interpolate": self = .interpolate
        case "luma/ray-2": self = .lumaRay2
        case "luma/ray-flash-2": self = .lumaRayFlash2
        case "luma/ray-3.2": self = .lumaRay32
        default:
            if let model = Engine.modelID(name, prefix: "fal/") {
                self = .fal(model: model)
            } else if let model = Engine.modelID(name, prefix: "wavespeed/") {
                self = .wavespeed(model: model)
            } else {
                return nil
            }
        }
    }

    /// The engine's name as a shot list, the database and the wire write it.
    public var name: String {
        switch self {
        case .interpolate: "interpolate"
        case .lumaRay2: "luma/ray-2"
        case .lumaRayFlash2: "luma/ray-flash-2"
        case .lumaRay32: "luma/ray-3.2"
        case .fal(let model): "fal/\(model)"
        case .wavespeed(let model): "wavespeed/\(model)"
        }
    }

    public var description: String { name }

    /// The provider that bills for this engine, or nil when it runs locally.
    public var provider: String? {
        switch self {
        case .interpolate: nil
        case .lumaRay2, .lumaRayFlash2, .lumaRay32: "luma"
        case .fal: "fal"
        case .wavespeed: "wavespeed"
        }
    }

    /// The clip lengths in seconds the provider accepts, shortest first; nil when any length works.
    public var durationBuckets: [Int]? {
        switch self {
        case .interpolate: nil
        case .lumaRay2, .lumaRayFlash2: [5, 9]
        case .lumaRay32: [5, 10]
        case .fal(let model):
            // fal serves Luma's Dream Machine models with Luma's own 5 s / 9 s lengths; the
            // Kling family and most other image-to-video models take 5 s or 10 s.
            model.contains("luma-dream-machine") ? [5, 9] : [5, 10]
        case .wavespeed: [5, 10]
        }
    }

    /// How many keyframes one generation can be pinned to. Two means the classic start and end
    /// frame; more (ray-3.2 takes up to 64 on its 24 fps grid) lets the planner cover several
    /// keyframes with one generation.
    public var maxAnchors: Int {
        switch self {
        case .lumaRay32: 64
        default: 2
        }
    }

    /// Whether the engine renders HDR (scene-linear, values above 1.0): `hdr: true` shots accept only these.
    public var rendersHDR: Bool { self == .lumaRay32 || self == .interpolate }

    /// Whether the provider reframes a finished generation to another aspect ratio (Luma Agents' `video_reframe`).
    public var reframes: Bool { self == .lumaRay32 }

    /// The resolution its drafts render at: ray-3.2's 360p draft tier; local interpolation
    /// at 360p too; other providers at their lowest, 540p.
    public var draftResolution: Resolution { self == .lumaRay32 || self == .interpolate ? .p360 : .p540 }

    /// The resolutions the engine renders HDR at; nil for any. Luma's HDR is 720p and 1080p
    /// (540p and the 360p draft tier are SDR only).
    public var hdrResolutions: [Resolution]? { self == .lumaRay32 ? [.p720, .p1080] : nil }

    /// The engines that render HDR, as error messages list them.
    public static let hdrNames = ["luma/ray-3.2", "interpolate"]

    /// Whether one generation can carry more than a start and an end keyframe.
    public var takesManyKeyframes: Bool { maxAnchors > 2 }

    /// The frame rate of the grid a multi-keyframe engine places its keyframes on
    /// (`keyframe_indexes`), and of the clips it renders.
    public var anchorGridFPS: Int { 24 }

    /// Whether the engine can start a clip from a prompt alone (text-to-video).
    public var acceptsTextOnlyStart: Bool { self != .interpolate }

    private static func modelID(_ name: String, prefix: String) -> String? {
        guard name.hasPrefix(prefix) else { return nil }
        let model = String(name.dropFirst(prefix.count))
        let components = model.split(separator: "/", omittingEmptySubsequences: false)
        guard !model.isEmpty, model.count <= 200 else { return nil }
        for component in components {
            guard let first = component.first, first.isLetter || first.isNumber,
                  component.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
            else { return nil }
        }
        return model
    }
}
