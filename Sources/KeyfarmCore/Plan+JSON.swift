import Foundation

/// The plan as JSON: the shape `keyfarm plan --json` prints and the job specs the store keeps.
extension Plan {
    public func jsonData(pretty: Bool = true) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                                          : [.sortedKeys, .withoutEscapingSlashes]
        // Every value is a plain string, number, bool, array or object: encoding cannot fail.
        return try! encoder.encode(PlanDocument(self))
    }
}

extension PlannedJob {
    /// The job's full spec as compact JSON, as stored in the database and sent to a worker.
    public func specJSON(shot: PlannedShot) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(JobDocument(self, shot: shot)), as: UTF8.self)
    }
}

struct PlanDocument: Encodable {
    var shot_list: String
    var project: String
    var budget: Int?
    var estimated_credits: Int
    var warnings: [String]
    var job_count: Int
    var shots: [ShotDocument]

    init(_ plan: Plan) {
        shot_list = plan.shotList
        project = plan.project
        budget = plan.budget
        estimated_credits = plan.estimatedCredits
        warnings = plan.warnings
        job_count = plan.jobs.count
        shots = plan.shots.map(ShotDocument.init)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        try c.encode(shot_list, forKey: "shot_list")
        try c.encode(project, forKey: "project")
        try c.encode(budget, forKey: "budget")   // null when the list has no cap
        try c.encode(estimated_credits, forKey: "estimated_credits")
        try c.encode(warnings, forKey: "warnings")
        try c.encode(job_count, forKey: "job_count")
        try c.encode(shots, forKey: "shots")
    }
}

struct ShotDocument: Encodable {
    var id: String
    var fps: Double
    var fps_rational: String
    var frames: Int
    var duration: Double
    var resolution: String
    var aspect: String
    var width: Int
    var height: Int
    var outputs: [String]
    var seam: Int
    var priority: Int
    /// A draft: rendered at draft tiers into `<shot>/draft/` (absent for a final).
    var draft: Bool?
    var keyframes: [KeyframeDocument]
    var segments: [SegmentDocument]
    var stitch: JobDocument
    var reframes: [ReframeDocument]
    var estimated_credits: Int

    init(_ planned: PlannedShot) {
        let shot = planned.shot
        id = shot.id
        fps = shot.fps.framesPerSecond
        fps_rational = shot.fps.description
        frames = planned.frames
        duration = shot.duration.doubleValue
        resolution = shot.resolution.rawValue
        aspect = shot.aspect.rawValue
        width = shot.size.width
        height = shot.size.height
        outputs = shot.outputs.map(\.rawValue)
        seam = shot.seam
        priority = shot.priority
        draft = shot.draft ? true : nil
        keyframes = shot.keyframes.enumerated().map { k, keyframe in
            KeyframeDocument(index: k, at: keyframe.at.doubleValue, frame: planned.keyframeFrames[k],
                             image: ImageDocument(ImageSource(keyframe.image)), prompt: keyframe.prompt)
        }
        segments = planned.segments.map { SegmentDocument($0, shot: planned) }
        stitch = JobDocument(planned.stitch, shot: planned)
        reframes = planned.reframes.map { reframe in
            ReframeDocument(aspect: reframe.aspect.rawValue, jobs: reframe.jobs.map { JobDocument($0, shot: planned) },
                            stitch: JobDocument(reframe.stitch, shot: planned), estimated_credits: reframe.estimatedCredits)
        }
        estimated_credits = planned.estimatedCredits
    }
}

struct KeyframeDocument: Encodable {
    var index: Int
    var at: Double
    var frame: Int
    var image: ImageDocument?
    var prompt: String?
}

struct SegmentDocument: Encodable {
    var index: Int
    var end_keyframe: Int
    var start_frame: Int
    var end_frame: Int
    var frames: Int
    var engine: String
    var prompt: String?
    var depends_on: [Int]
    var duration_bucket: Int?
    var parts: Int
    var jobs: [JobDocument]
    var estimated_credits: Int

    init(_ segment: PlannedSegment, shot: PlannedShot) {
        index = segment.index
        end_keyframe = segment.endKeyframe
        start_frame = segment.startFrame
        end_frame = segment.endFrame
        frames = segment.frames
        engine = segment.engine.name
        prompt = segment.prompt
        depends_on = segment.dependsOn
        duration_bucket = segment.jobs.count == 1 ? segment.jobs[0].durationBucket : nil
        parts = segment.jobs.count
        jobs = segment.jobs.map { JobDocument($0, shot: shot) }
        estimated_credits = segment.estimatedCredits
    }
}

struct JobDocument: Encodable {
    var key: String
    var kind: String
    var shot: String
    var segment_index: Int?
    var part: Int
    var parts: Int
    var start_frame: Int
    var end_frame: Int
    var frames: Int
    var engine: String?
    var duration_bucket: Int?
    var prompt: String?
    var start_image: ImageDocument?
    var end_image: ImageDocument?
    /// Multi-keyframe engines: the keyframes the generation carries, and the grid position of its last frame.
    var anchors: [AnchorDocument]?
    var end_position: Int?
    /// HDR shots: the generation is asked for HDR (and the EXR export); the stitch for `exr_colorspace`.
    var hdr: Bool?
    var exr_export: Bool?
    var exr_colorspace: String?
    /// A provider reframe job (`of`: the segment job it reframes) or a stitch at another aspect.
    var reframe: ReframeJobDocument?
    /// fal and WaveSpeed: the model's input fields the worker builds its body with.
    var model_inputs: ModelInputs?
    /// The SHA-256 of the job's canonical request (`RequestKey`): equal keys, equal artifacts.
    var request_key: String?
    /// A draft's job: rendered at a draft tier; a draft's stitch writes under `<shot>/draft/`.
    var draft: Bool?
    /// A retake: its take number (absent for the first take) and seed.
    var take: Int?
    var seed: Int64?
    var depends_on: [String]
    var priority: Int
    var max_attempts: Int
    var estimated_credits: Int
    var price_known: Bool
    var fps_rational: String
    var width: Int
    var height: Int
    var resolution: String
    var aspect: String
    /// Stitch jobs only: the deliverables, the seam crossfade, and the segment jobs in order.
    var outputs: [String]?
    var seam: Int?
    var segment_jobs: [SegmentJobDocument]?

    init(_ job: PlannedJob, shot: PlannedShot) {
        key = job.key
        kind = job.kind.rawValue
        self.shot = job.shotID
        segment_index = job.segmentIndex
        part = job.part
        parts = job.partCount
        start_frame = job.startFrame
        end_frame = job.endFrame
        frames = job.frames
        engine = job.engine?.name
        duration_bucket = job.durationBucket
        prompt = job.prompt
        start_image = ImageDocument(job.startImage, hashes: shot.shot.imageHashes)
        end_image = ImageDocument(job.endImage, hashes: shot.shot.imageHashes)
        if job.engine?.takesManyKeyframes == true {
            anchors = job.anchors.map { AnchorDocument($0, hashes: shot.shot.imageHashes) }
            end_position = job.endPosition
        }
        if job.hdr { hdr = true; exr_export = job.exrExport }
        model_inputs = job.modelInputs
        request_key = job.requestKey
        take = job.take > 1 ? job.take : nil
        seed = job.seed
        depends_on = job.dependsOn
        priority = job.priority
        max_attempts = job.maxAttempts
        estimated_credits = job.estimatedCredits
        price_known = job.priceKnown
        fps_rational = shot.shot.fps.description
        width = shot.shot.size.width
        height = shot.shot.size.height
        resolution = shot.shot.resolution.rawValue
        aspect = shot.shot.aspect.rawValue
        if let own = job.resolution {
            let size = PictureSize(resolution: own, aspect: shot.shot.aspect)
            resolution = own.rawValue
            width = size.width
            height = size.height
        }
        if shot.shot.draft { draft = true }
        if job.kind == .stitch {
            outputs = shot.shot.outputs.map(\.rawValue)
            seam = shot.shot.seam
            if shot.shot.hdr { hdr = true }
            exr_colorspace = shot.shot.exrColorspaceResolved.rawValue
            segment_jobs = shot.segments.flatMap(\.jobs).map(SegmentJobDocument.init)
        }
        if let spec = job.reframe {
            reframe = ReframeJobDocument(spec)
            let size = PictureSize(resolution: shot.shot.resolution, aspect: spec.aspect)
            width = size.width
            height = size.height
            aspect = spec.aspect.rawValue
            if job.kind == .stitch {
                // The provider's reframes are SDR: the other aspects get the video deliverables only.
                let videos = shot.shot.outputs.filter { $0 == .mp4 || $0 == .prores }
                outputs = (videos.isEmpty ? [.mp4] : videos).map(\.rawValue)
                segment_jobs = segment_jobs?.map { piece in
                    var piece = piece
                    piece.reframe_job = spec.reframedBy[piece.key]
                    return piece
                }
            }
        }
    }
}

/// A segment job as its shot's stitch job lists it: which frames it covers, from which engine.
struct SegmentJobDocument: Encodable {
    var key: String
    var segment_index: Int
    var part: Int
    var parts: Int
    var start_frame: Int
    var end_frame: Int
    var engine: String
    /// Multi-keyframe engines: use the clip's 24 fps positions 0 through this one.
    var end_position: Int?
    /// A stitch at another aspect: the provider reframe job that stands in for this piece, if any.
    var reframe_job: String?
    /// The take of the segment the stitch uses (`keyfarm select` changes it).
    var take: Int

    init(_ job: PlannedJob) {
        take = job.take
        key = job.key
        segment_index = job.segmentIndex ?? 0
        part = job.part
        parts = job.partCount
        start_frame = job.startFrame
        end_frame = job.endFrame
        engine = job.engine?.name ?? ""
        end_position = job.endPosition
    }
}

/// A shot's delivery at another aspect ratio, as `keyfarm plan --json` lists it.
struct ReframeDocument: Encodable {
    var aspect: String
    var jobs: [JobDocument]
    var stitch: JobDocument
    var estimated_credits: Int
}

/// `{"aspect": "9:16", "tag": "9x16", "position": "center" | {x_norm, ...}, "of": "sh010/s0"}`.
struct ReframeJobDocument: Encodable {
    var aspect: String
    var tag: String
    var position: Position
    var of: String?

    enum Position: Encodable {
        case center
        case rect(x: Double, y: Double, w: Double, h: Double)

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .center:
                var c = encoder.singleValueContainer()
                try c.encode("center")
            case .rect(let x, let y, let w, let h):
                var c = encoder.container(keyedBy: DynamicKey.self)
                try c.encode(x, forKey: "x_norm")
                try c.encode(y, forKey: "y_norm")
                try c.encode(w, forKey: "w_norm")
                try c.encode(h, forKey: "h_norm")
            }
        }
    }

    init(_ spec: ReframeSpec) {
        aspect = spec.aspect.rawValue
        tag = spec.aspect.rawValue.replacingOccurrences(of: ":", with: "x")
        switch spec.position {
        case .center: position = .center
        case .rect(let x, let y, let w, let h): position = .rect(x: x, y: y, w: w, h: h)
        }
        of = spec.source
    }
}

/// `{"keyframe": 3, "frame": 96, "position": 96, "image": {...}}`: one of a generation's keyframes.
struct AnchorDocument: Encodable {
    var keyframe: Int?
    var frame: Int
    var position: Int
    var image: ImageDocument?

    init(_ anchor: Anchor, hashes: [String: String] = [:]) {
        keyframe = anchor.keyframe
        frame = anchor.frame
        position = anchor.position
        image = ImageDocument(anchor.image, hashes: hashes)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        try c.encode(keyframe, forKey: "keyframe")   // null for a chained part's continuity frame
        try c.encode(frame, forKey: "frame")
        try c.encode(position, forKey: "position")
        try c.encode(image, forKey: "image")
    }
}

/// `{"kind": "file", "path": ...}`, `{"kind": "url", "url": ...}`, `{"kind": "last_frame_of", "job": ...}`.
struct ImageDocument: Encodable {
    var kind: String
    var path: String?
    var url: String?
    var job: String?
    /// A local file's content hash, when the submitting command read it.
    var sha256: String?

    init?(_ source: ImageSource, hashes: [String: String] = [:]) {
        switch source {
        case .none: return nil
        case .file(let path): kind = "file"; self.path = path; sha256 = hashes[path]
        case .url(let url): kind = "url"; self.url = url
        case .lastFrameOf(let job): kind = "last_frame_of"; self.job = job
        }
    }
}

struct DynamicKey: CodingKey, ExpressibleByStringLiteral {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
    init(stringLiteral value: String) { stringValue = value }
}
