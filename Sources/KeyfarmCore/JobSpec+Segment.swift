/// A segment job's spec: render frames `[startFrame, endFrame]` of a shot between two keyframe
/// images (`interpolate`), or through a provider's model (one clip of `durationBucket`
/// seconds, retimed when stitched). A provider reframe job is a segment whose `reframe` names
/// the job whose generation it reframes.
///
/// What an engine cannot do without is required when decoding (the key, the shot, the frames,
/// the engine, the picture size); the plan's bookkeeping takes the defaults PROTOCOL.md gives
/// when absent, and so does anything optional.
public struct SegmentSpec: JobSpecDocument {
    public static let kind = "segment"

    // The job in its plan.
    public var key: String
    public var shot: String
    /// 0-based: segment i starts at keyframe i.
    public var segmentIndex: Int?
    /// 1-based part number within a chained segment, and how many parts it has.
    public var part = 1
    public var parts = 1
    public var startFrame: Int
    public var endFrame: Int
    /// The frame count the rendered piece has once retimed.
    public var frames: Int
    public var dependsOn: [String] = []
    public var priority = 50
    public var maxAttempts = 3
    public var estimatedCredits = 0
    public var priceKnown = true
    /// The SHA-256 of the job's canonical request (`RequestKey`).
    public var requestKey: String?

    // The picture.
    /// The shot's frame rate (the planner writes it; no segment engine needs it).
    public var fps: FrameRate?
    public var width: Int
    public var height: Int
    public var resolution = Resolution.p720
    public var aspect = Aspect.widescreen
    /// A draft's job: rendered at its engine's draft tier.
    public var draft = false

    // What the engine is asked.
    public var engine: Engine
    /// The provider clip length to ask for, in seconds; nil for local work.
    public var durationBucket: Int?
    public var prompt: String?
    public var startImage: JobSpec.Image?
    /// Nil leaves the end free.
    public var endImage: JobSpec.Image?
    /// Multi-keyframe engines only (empty for a reframe): every keyframe of the generation.
    public var anchors: [JobSpec.Anchor]?
    /// Multi-keyframe engines only: the grid position of `endFrame` in the generation.
    public var endPosition: Int?
    /// Ask for HDR, and for the provider's EXR export.
    public var hdr = false
    public var exrExport = false
    public var reframe: JobSpec.Reframe?
    /// fal and WaveSpeed: how the model names its inputs.
    public var modelInputs: ModelInputs?
    /// 1 as planned, then one more for each retake.
    public var take = 1
    public var seed: Int64?
    /// `interpolate`: how a keyframe of another aspect is conformed (`crop`, the default, or
    /// `fit`); the planner writes none.
    public var fit: String?

    // What the store adds.
    /// An earlier generation that stands in for this one.
    public var reuse: JobSpec.Reuse?
    /// At dispatch: the artifacts of each job in `dependsOn`, by job key.
    public var inputs: [String: [JobSpec.Artifact]] = [:]
    /// At dispatch: the provider's file ids of the job's keyframe images, by content hash.
    public var providerFiles: [String: String] = [:]

    public init(key: String, shot: String, startFrame: Int, endFrame: Int, width: Int, height: Int, engine: Engine) {
        self.key = key
        self.shot = shot
        self.startFrame = startFrame
        self.endFrame = endFrame
        frames = endFrame - startFrame + 1
        self.width = width
        self.height = height
        self.engine = engine
    }

    enum CodingKeys: String, CodingKey {
        case kind, key, shot, segmentIndex = "segment_index", part, parts, startFrame = "start_frame"
        case endFrame = "end_frame", frames, dependsOn = "depends_on", priority, maxAttempts = "max_attempts"
        case estimatedCredits = "estimated_credits", priceKnown = "price_known", requestKey = "request_key"
        case fps = "fps_rational", width, height, resolution, aspect, draft
        case engine, durationBucket = "duration_bucket", prompt, startImage = "start_image", endImage = "end_image"
        case anchors, endPosition = "end_position", hdr, exrExport = "exr_export", reframe
        case modelInputs = "model_inputs", take, seed, fit
        case reuse, inputs, providerFiles = "provider_files"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.required(.key)
        shot = try c.required(.shot)
        segmentIndex = try c.optional(.segmentIndex)
        part = try c.value(.part, or: 1)
        parts = try c.value(.parts, or: 1)
        startFrame = try c.required(.startFrame)
        endFrame = try c.required(.endFrame)
        frames = try c.required(.frames)
        dependsOn = try c.value(.dependsOn, or: [])
        priority = try c.value(.priority, or: 50)
        maxAttempts = try c.value(.maxAttempts, or: 3)
        estimatedCredits = try c.value(.estimatedCredits, or: 0)
        priceKnown = try c.value(.priceKnown, or: true)
        requestKey = try c.optional(.requestKey)
        fps = try c.optionalFrameRate(.fps)
        width = try c.required(.width)
        height = try c.required(.height)
        resolution = try c.choice(.resolution, or: .p720)
        aspect = try c.choice(.aspect, or: .widescreen)
        draft = try c.value(.draft, or: false)
        engine = try c.required(.engine)
        durationBucket = try c.optional(.durationBucket)
        prompt = try c.optional(.prompt)
        startImage = try c.optional(.startImage)
        endImage = try c.optional(.endImage)
        anchors = try c.optional(.anchors)
        endPosition = try c.optional(.endPosition)
        hdr = try c.value(.hdr, or: false)
        exrExport = try c.value(.exrExport, or: false)
        reframe = try c.optional(.reframe)
        modelInputs = try c.optional(.modelInputs)
        take = try c.value(.take, or: 1)
        seed = try c.optional(.seed)
        fit = try c.optional(.fit)
        reuse = try c.optional(.reuse)
        inputs = try c.value(.inputs, or: [:])
        providerFiles = try c.value(.providerFiles, or: [:])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.kind, forKey: .kind)
        try c.encode(key, forKey: .key)
        try c.encode(shot, forKey: .shot)
        try c.encodeIfPresent(segmentIndex, forKey: .segmentIndex)
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
        try c.encodeIfPresent(fps?.description, forKey: .fps)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
        try c.encode(resolution, forKey: .resolution)
        try c.encode(aspect, forKey: .aspect)
        if draft { try c.encode(true, forKey: .draft) }
        try c.encode(engine, forKey: .engine)
        try c.encodeIfPresent(durationBucket, forKey: .durationBucket)
        try c.encodeIfPresent(prompt, forKey: .prompt)
        try c.encodeIfPresent(startImage, forKey: .startImage)
        try c.encodeIfPresent(endImage, forKey: .endImage)
        try c.encodeIfPresent(anchors, forKey: .anchors)
        try c.encodeIfPresent(endPosition, forKey: .endPosition)
        // An HDR generation says whether it wants the EXR export, yes or no.
        if hdr { try c.encode(true, forKey: .hdr) }
        if hdr || exrExport { try c.encode(exrExport, forKey: .exrExport) }
        try c.encodeIfPresent(reframe, forKey: .reframe)
        try c.encodeIfPresent(modelInputs, forKey: .modelInputs)
        if take > 1 { try c.encode(take, forKey: .take) }
        try c.encodeIfPresent(seed, forKey: .seed)
        try c.encodeIfPresent(fit, forKey: .fit)
        try c.encodeIfPresent(reuse, forKey: .reuse)
        if !inputs.isEmpty { try c.encode(inputs, forKey: .inputs) }
        if !providerFiles.isEmpty { try c.encode(providerFiles, forKey: .providerFiles) }
    }
}
