/// A validated shot list: what a director asked for, with every default resolved into its shots.
public struct ShotList: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var project: String
    /// The credit cap for the whole list; nil when there is none.
    public var budget: Int?
    public var shots: [Shot]
    /// The file the list came from, as the user named it (used in messages only).
    public var sourcePath: String

    public init(version: Int = 1, name: String, project: String = "default", budget: Int? = nil,
                shots: [Shot], sourcePath: String) {
        self.version = version
        self.name = name
        self.project = project
        self.budget = budget
        self.shots = shots
        self.sourcePath = sourcePath
    }
}

/// One continuous clip of up to 20 s, pinned by 2 to 16 keyframes.
public struct Shot: Sendable, Equatable {
    public var id: String
    public var duration: Rational
    public var fps: FrameRate
    public var resolution: Resolution
    public var aspect: Aspect
    public var engine: Engine
    public var outputs: [OutputFormat]
    public var seam: Int
    public var priority: Int
    public var maxAttempts: Int
    public var keyframes: [Keyframe]
    /// Per-segment overrides, by segment index.
    public var segmentOverrides: [Int: SegmentOverride]
    /// Render HDR where the engine can (ray-3.2); only HDR engines accept it.
    public var hdr: Bool = false
    /// The primaries of `exr` deliverables; nil: ACES2065-1 when the source is ACES (an HDR
    /// shot's provider EXR export), linear Rec.709 otherwise.
    public var exrColorspace: EXRColorspace? = nil
    /// Extra aspect ratios to deliver, where the source sits in them, and who reframes.
    public var reframe: [Aspect] = []
    public var reframePosition: ReframePosition = .center
    public var reframeEngine: ReframeEngine = .auto
    /// False: never stand an earlier identical generation in for one of this shot's jobs.
    public var reuse = true
    /// Render a cheap draft for review: provider segments at the engine's draft tier, SDR, an
    /// MP4 at 360p under `<shot>/draft/`, no reframes (`keyfarm promote` renders the final).
    public var draft = false
    /// The SHA-256 of each local keyframe image, by its resolved path, when the submitting
    /// command read them: jobs name their images' content, so a provider that keeps uploaded
    /// files is sent each distinct image once.
    public var imageHashes: [String: String] = [:]

    public init(id: String, duration: Rational, fps: FrameRate, resolution: Resolution, aspect: Aspect,
                engine: Engine, outputs: [OutputFormat], seam: Int, priority: Int, maxAttempts: Int,
                keyframes: [Keyframe], segmentOverrides: [Int: SegmentOverride] = [:]) {
        self.id = id
        self.duration = duration
        self.fps = fps
        self.resolution = resolution
        self.aspect = aspect
        self.engine = engine
        self.outputs = outputs
        self.seam = seam
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.keyframes = keyframes
        self.segmentOverrides = segmentOverrides
    }

    /// The primaries of its `exr` deliverables: as asked, else ACES2065-1 for an HDR shot
    /// (its source is the provider's ACES export), else linear Rec.709.
    public var exrColorspaceResolved: EXRColorspace { exrColorspace ?? (hdr ? .aces2065 : .linRec709) }

    /// The shot as its draft renders it: 360p, SDR, an MP4 only, no other aspects. Its
    /// provider segments render at their engine's draft tier (`Engine.draftResolution`).
    public var asDraft: Shot {
        var shot = self
        shot.draft = true
        shot.resolution = .p360
        shot.hdr = false
        shot.exrColorspace = nil
        shot.outputs = [.mp4]
        shot.reframe = []
        return shot
    }

    /// N = round(duration * fps).
    public var frameCount: Int { Int((duration * fps.rational).rounded()) }

    /// The frame keyframe `index` sits on: min(round(at * fps), N - 1).
    public func frame(ofKeyframe index: Int) -> Int {
        Swift.min(fps.frame(at: keyframes[index].at), frameCount - 1)
    }

    public var size: PictureSize { PictureSize(resolution: resolution, aspect: aspect) }
}

/// A moment the director pins: a time, and an image and/or a prompt.
public struct Keyframe: Sendable, Equatable {
    public var at: Rational
    public var image: ImageReference?
    public var prompt: String?

    public init(at: Rational, image: ImageReference? = nil, prompt: String? = nil) {
        self.at = at
        self.image = image
        self.prompt = prompt
    }
}

/// Where a keyframe's image comes from.
public enum ImageReference: Sendable, Equatable {
    /// A local PNG or EXR: `given` as written in the shot list, `path` resolved against its folder.
    case file(given: String, path: String)
    /// An https URL the provider fetches itself.
    case url(String)
}

/// Where the source picture sits in a reframed one: centred (the largest region of the new
/// aspect inside the source), or a rectangle in the new frame's normalized coordinates, as
/// Luma's `video.source_position` (x and y may be negative, w and h up to 2).
public enum ReframePosition: Sendable, Equatable {
    case center
    case rect(x: Double, y: Double, w: Double, h: Double)
}

/// Who makes a shot's other aspect ratios: the provider's reframe where the engine has one
/// (`auto`), or a free local crop of the master (`local`).
public enum ReframeEngine: String, Sendable, CaseIterable {
    case auto, local
}

/// What a shot list may change for one segment.
public struct SegmentOverride: Sendable, Equatable {
    public var engine: Engine?
    public var prompt: String?
    public var priority: Int?
    public var maxAttempts: Int?

    public init(engine: Engine? = nil, prompt: String? = nil, priority: Int? = nil, maxAttempts: Int? = nil) {
        self.engine = engine
        self.prompt = prompt
        self.priority = priority
        self.maxAttempts = maxAttempts
    }
}
