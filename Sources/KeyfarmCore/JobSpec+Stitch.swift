/// A stitch job's spec: make a shot's deliverables from the artifacts of its segment jobs
/// (`segmentJobs`, in order), keeping each shared boundary frame once. A stitch at another
/// aspect ratio has `reframe` set, and its pieces name the provider reframes that stand in.
///
/// What the stitcher cannot do without is required when decoding (the shot, its last frame,
/// frame rate, size and pieces); the rest takes the defaults PROTOCOL.md gives when absent.
public struct StitchSpec: JobSpecDocument {
    public static let kind = "stitch"

    // The job in its plan.
    public var key: String
    public var shot: String
    public var part = 1
    public var parts = 1
    public var startFrame = 0
    /// The shot's last frame.
    public var endFrame: Int
    public var frames: Int
    /// Every segment job of the shot (and, at another aspect, their reframes).
    public var dependsOn: [String] = []
    public var priority = 50
    public var maxAttempts = 3
    public var estimatedCredits = 0
    public var priceKnown = true
    public var requestKey: String?

    // The picture.
    public var fps: FrameRate
    public var width: Int
    public var height: Int
    public var resolution = Resolution.p720
    public var aspect = Aspect.widescreen
    /// A draft's stitch: its deliverables go under `<shot>/draft/`.
    public var draft = false

    // The deliverables.
    public var outputs: [OutputFormat] = [.mp4]
    /// Crossfade length in frames at each seam (0: a hard cut).
    public var seam = 0
    /// An HDR shot: pieces that kept their provider's EXR export contribute those frames.
    public var hdr = false
    /// The primaries of an `exr` deliverable (linear Rec.709 when absent).
    public var exrColorspace: EXRColorspace?
    public var reframe: JobSpec.Reframe?
    public var segmentJobs: [Piece]

    // What the store adds.
    public var reuse: JobSpec.Reuse?
    /// At dispatch: the artifacts of each job in `dependsOn`, by job key.
    public var inputs: [String: [JobSpec.Artifact]] = [:]

    public init(key: String, shot: String, endFrame: Int, fps: FrameRate, width: Int, height: Int, segmentJobs: [Piece]) {
        self.key = key
        self.shot = shot
        self.endFrame = endFrame
        frames = endFrame + 1
        self.fps = fps
        self.width = width
        self.height = height
        self.segmentJobs = segmentJobs
    }

    /// A segment job as its shot's stitch lists it: which frames it covers, from which engine.
    public struct Piece: Codable, Sendable, Equatable {
        public var key: String
        /// Nil: its position in `segmentJobs`.
        public var segmentIndex: Int?
        public var part = 1
        public var parts = 1
        public var startFrame: Int
        public var endFrame: Int
        /// The engine's name, as the manifest names it.
        public var engine = ""
        /// Multi-keyframe engines: the clip's 24 fps positions 0 through this one are used.
        public var endPosition: Int?
        /// At another aspect: the provider reframe job that stands in for this piece, if any.
        public var reframeJob: String?
        /// The take of the segment the stitch uses (`keyfarm select` changes it).
        public var take = 1

        public init(key: String, segmentIndex: Int?, startFrame: Int, endFrame: Int) {
            self.key = key
            self.segmentIndex = segmentIndex
            self.startFrame = startFrame
            self.endFrame = endFrame
        }

        enum CodingKeys: String, CodingKey {
            case key, segmentIndex = "segment_index", part, parts, startFrame = "start_frame", endFrame = "end_frame"
            case engine, endPosition = "end_position", reframeJob = "reframe_job", take
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            key = try c.required(.key)
            segmentIndex = try c.optional(.segmentIndex)
            part = try c.value(.part, or: 1)
            parts = try c.value(.parts, or: 1)
            startFrame = try c.required(.startFrame)
            endFrame = try c.required(.endFrame)
            engine = try c.value(.engine, or: "")
            endPosition = try c.optional(.endPosition)
            reframeJob = try c.optional(.reframeJob)
            take = try c.value(.take, or: 1)
        }
    }

    enum CodingKeys: String, CodingKey {
        case kind, key, shot, part, parts, startFrame = "start_frame", endFrame = "end_frame", frames
        case dependsOn = "depends_on", priority, maxAttempts = "max_attempts", estimatedCredits = "estimated_credits"
        case priceKnown = "price_known", requestKey = "request_key"
        case fps = "fps_rational", width, height, resolution, aspect, draft
        case outputs, seam, hdr, exrColorspace = "exr_colorspace", reframe, segmentJobs = "segment_jobs"
        case reuse, inputs
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.required(.key)
        shot = try c.required(.shot)
        part = try c.value(.part, or: 1)
        parts = try c.value(.parts, or: 1)
        startFrame = try c.value(.startFrame, or: 0)
        endFrame = try c.required(.endFrame)
        frames = try c.value(.frames, or: endFrame - startFrame + 1)
        dependsOn = try c.value(.dependsOn, or: [])
        priority = try c.value(.priority, or: 50)
        maxAttempts = try c.value(.maxAttempts, or: 3)
        estimatedCredits = try c.value(.estimatedCredits, or: 0)
        priceKnown = try c.value(.priceKnown, or: true)
        requestKey = try c.optional(.requestKey)
        fps = try c.frameRate(.fps)
        width = try c.required(.width)
        height = try c.required(.height)
        resolution = try c.choice(.resolution, or: .p720)
        aspect = try c.choice(.aspect, or: .widescreen)
        draft = try c.value(.draft, or: false)
        outputs = try c.choices(.outputs, or: [.mp4])
        seam = try c.value(.seam, or: 0)
        hdr = try c.value(.hdr, or: false)
        exrColorspace = try c.contains(.exrColorspace) ? c.choice(.exrColorspace) : nil
        reframe = try c.optional(.reframe)
        guard c.contains(.segmentJobs) else {
            throw DecodingError.dataCorruptedError(
                forKey: .segmentJobs, in: c,
                debugDescription: "is missing (a stitch job planned by an older keyfarm cannot be stitched; submit the shot list again)")
        }
        segmentJobs = try c.required(.segmentJobs)
        reuse = try c.optional(.reuse)
        inputs = try c.value(.inputs, or: [:])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.kind, forKey: .kind)
        try c.encode(key, forKey: .key)
        try c.encode(shot, forKey: .shot)
        try c.encode(part, forKey: .part)
        try c.encode(parts, forKey: .parts)
        try c.encode(startFrame, forKey: .startFrame)
        try c.encode(endFrame, forKey: .endFrame)
        try c.encode(frames, forKey: .frames)
        try c.encode(dependsOn, forKey: .dependsOn)
        try c.encode(priority, forKey: .priority)
        try c.encode(maxAttempts, forKey: .maxAttempts)
        try c.encode(estimatedCredits, forKey: .estimatedCredits)
        try c.encode(priceKnown, forKey: .priceKnown)
        try c.encodeIfPresent(requestKey, forKey: .requestKey)
        try c.encode(fps.description, forKey: .fps)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
        try c.encode(resolution, forKey: .resolution)
        try c.encode(aspect, forKey: .aspect)
        if draft { try c.encode(true, forKey: .draft) }
        try c.encode(outputs, forKey: .outputs)
        try c.encode(seam, forKey: .seam)
        if hdr { try c.encode(true, forKey: .hdr) }
        try c.encodeIfPresent(exrColorspace, forKey: .exrColorspace)
        try c.encodeIfPresent(reframe, forKey: .reframe)
        try c.encode(segmentJobs, forKey: .segmentJobs)
        try c.encodeIfPresent(reuse, forKey: .reuse)
        if !inputs.isEmpty { try c.encode(inputs, forKey: .inputs) }
    }
}
