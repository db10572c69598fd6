/// What a shot list turns into: per-segment jobs and one stitch job per shot, as a DAG, each
/// with its cost estimate. Pure data; `Planner` makes it and the store persists it.
public struct Plan: Sendable, Equatable {
    public var shotList: String
    public var project: String
    public var budget: Int?
    public var shots: [PlannedShot]
    /// Things the operator should know that do not stop the plan (an engine without a price).
    public var warnings: [String]

    public var estimatedCredits: Int { shots.reduce(0) { $0 + $1.estimatedCredits } }
    /// Every job in dependency order (a job never precedes one it depends on).
    public var jobs: [PlannedJob] { shots.flatMap(\.jobs) }
}

/// One shot's plan: its frames, keyframes, segments and stitch job.
public struct PlannedShot: Sendable, Equatable {
    public var shot: Shot
    public var frames: Int
    public var keyframeFrames: [Int]
    public var segments: [PlannedSegment]
    public var stitch: PlannedJob
    /// One per extra aspect ratio the shot delivers (`reframe`).
    public var reframes: [PlannedReframe] = []

    public var id: String { shot.id }
    public var estimatedCredits: Int {
        segments.reduce(0) { $0 + $1.estimatedCredits } + reframes.reduce(0) { $0 + $1.estimatedCredits }
    }
    /// Every job of the shot in dependency order: segments, the stitch, then each reframe's
    /// provider jobs and its stitch.
    public var jobs: [PlannedJob] {
        segments.flatMap(\.jobs) + [stitch] + reframes.flatMap { $0.jobs + [$0.stitch] }
    }

    /// What the shot delivers, as one key: its stitches' request keys. A resubmission whose
    /// shot has the same content key changed nothing a reviewer saw.
    public var contentKey: String {
        ([stitch] + reframes.map(\.stitch)).map { $0.requestKey ?? "" }.joined(separator: "+")
    }

    /// Sets every job's `requestKey` again, after a job changed (a retake's take and seed).
    public mutating func recomputeRequestKeys() { assignRequestKeys() }

    /// Sets every job's `requestKey`, in dependency order.
    mutating func assignRequestKeys() {
        let keys = RequestKey.keys(of: self)
        for g in segments.indices {
            for j in segments[g].jobs.indices { segments[g].jobs[j].requestKey = keys[segments[g].jobs[j].key] }
        }
        stitch.requestKey = keys[stitch.key]
        for r in reframes.indices {
            for j in reframes[r].jobs.indices { reframes[r].jobs[j].requestKey = keys[reframes[r].jobs[j].key] }
            reframes[r].stitch.requestKey = keys[reframes[r].stitch.key]
        }
    }
}

/// The shot delivered again at another aspect ratio: the provider's reframe of each segment
/// job where the engine has one (ray-3.2), and a stitch of those (cropping the rest locally).
public struct PlannedReframe: Sendable, Equatable {
    public var aspect: Aspect
    public var jobs: [PlannedJob]
    public var stitch: PlannedJob

    public var estimatedCredits: Int { jobs.reduce(0) { $0 + $1.estimatedCredits } }
}

/// How a job takes part in delivering a shot at another aspect ratio.
public struct ReframeSpec: Sendable, Equatable {
    public var aspect: Aspect
    public var position: ReframePosition
    /// A provider reframe job: the segment job whose generation it reframes. Nil for a stitch.
    public var source: String?
    /// A stitch: the reframe job of each segment job (by key) that has one; the others are cropped.
    public var reframedBy: [String: String] = [:]
}

/// The stretch from keyframe `index` to keyframe `endKeyframe` (`index + 1`, or further for an
/// engine that takes many keyframes per generation), rendered by one job or a chain of parts.
public struct PlannedSegment: Sendable, Equatable {
    public var index: Int
    public var endKeyframe: Int
    public var startFrame: Int
    public var endFrame: Int
    public var engine: Engine
    public var prompt: String?
    /// Indices of the segments this one must wait for (continuity: it starts from their last frame).
    public var dependsOn: [Int]
    public var jobs: [PlannedJob]

    public var frames: Int { endFrame - startFrame + 1 }
    public var estimatedCredits: Int { jobs.reduce(0) { $0 + $1.estimatedCredits } }
}

/// The kind of work a job asks a worker for.
public enum JobKind: String, Sendable, Codable {
    case segment
    case stitch
}

/// Where a job's start or end image comes from.
public enum ImageSource: Sendable, Equatable {
    case none
    case file(path: String)
    case url(String)
    /// The last frame another job of the same shot list rendered (continuity chaining).
    case lastFrameOf(job: String)

    init(_ reference: ImageReference?) {
        switch reference {
        case .none: self = .none
        case .file(_, let path)?: self = .file(path: path)
        case .url(let url)?: self = .url(url)
        }
    }
}

/// A keyframe a multi-keyframe generation is pinned to: `keyframes[i]` at `keyframe_indexes[i]`.
public struct Anchor: Sendable, Equatable {
    /// The shot's keyframe index; nil for the continuity frame that starts a chained part.
    public var keyframe: Int?
    /// The shot frame it sits on.
    public var frame: Int
    /// Its position on the generation's 24 fps grid: round((at - span start) * 24).
    public var position: Int
    public var image: ImageSource

    public init(keyframe: Int?, frame: Int, position: Int, image: ImageSource) {
        self.keyframe = keyframe
        self.frame = frame
        self.position = position
        self.image = image
    }
}

/// One unit of work for a worker: render frames [startFrame, endFrame] of a shot, or stitch it.
public struct PlannedJob: Sendable, Equatable {
    /// Unique within the shot list: `sh010/s1`, `sh010/s1p2` for a chained part, `sh010/stitch`.
    public var key: String
    public var kind: JobKind
    public var shotID: String
    public var segmentIndex: Int?
    /// 1-based part number within a chained segment, and how many parts it has.
    public var part: Int
    public var partCount: Int
    public var startFrame: Int
    public var endFrame: Int
    public var engine: Engine?
    /// The provider clip length asked for, in seconds; nil for local work.
    public var durationBucket: Int?
    public var prompt: String?
    public var startImage: ImageSource
    public var endImage: ImageSource
    public var dependsOn: [String]
    public var priority: Int
    public var maxAttempts: Int
    public var estimatedCredits: Int
    /// False when the price table had no price and the estimate counts 0.
    public var priceKnown: Bool
    /// Multi-keyframe engines only: the keyframes the generation carries, by position.
    public var anchors: [Anchor] = []
    /// A provider reframe job, or a stitch at another aspect ratio.
    public var reframe: ReframeSpec?
    /// Ask the provider for HDR, and for its EXR export (the HDR frames the stitch keeps).
    public var hdr = false
    public var exrExport = false
    /// Multi-keyframe engines only: the grid position of `endFrame` in the generation. The
    /// stitcher uses positions 0 through this one and drops the rest of the billed clip.
    public var endPosition: Int?
    /// fal and WaveSpeed only: how the model names its inputs, when the planner's table knows
    /// the model (an operator's mapping or a built-in one).
    public var modelInputs: ModelInputs?
    /// The SHA-256 of its canonical request (`RequestKey`); an earlier job of the project with
    /// the same key that succeeded can stand in for it. Set for every job of a plan.
    public var requestKey: String?
    /// The resolution it renders at when not the shot's: a draft's provider segment at its
    /// engine's draft tier.
    public var resolution: Resolution?
    /// A segment's take: 1 as planned, then one more for each `keyfarm retake`. Takes after the
    /// first are new requests, whatever else they share.
    public var take = 1
    /// A retake's seed, where the engine takes one.
    public var seed: Int64?

    public var frames: Int { endFrame - startFrame + 1 }
    /// The capability a worker needs to take this job: the engine's name, or `stitch`.
    public var requires: String { engine?.name ?? "stitch" }
}
