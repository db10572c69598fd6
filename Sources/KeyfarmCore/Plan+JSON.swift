import Foundation

/// The plan as JSON: the shape `keyfarm plan --json` prints, each job as its spec (`JobSpec`).
extension Plan {
    public func jsonData(pretty: Bool = true) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                                          : [.sortedKeys, .withoutEscapingSlashes]
        // Every value is a plain string, number, bool, array or object: encoding cannot fail.
        return try! encoder.encode(PlanDocument(self))
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
    var stitch: JobSpec
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
                             image: JobSpec.Image(ImageSource(keyframe.image)), prompt: keyframe.prompt)
        }
        segments = planned.segments.map { SegmentDocument($0, shot: planned) }
        stitch = planned.stitch.spec(in: planned)
        reframes = planned.reframes.map { reframe in
            ReframeDocument(aspect: reframe.aspect.rawValue, jobs: reframe.jobs.map { $0.spec(in: planned) },
                            stitch: reframe.stitch.spec(in: planned), estimated_credits: reframe.estimatedCredits)
        }
        estimated_credits = planned.estimatedCredits
    }
}

struct KeyframeDocument: Encodable {
    var index: Int
    var at: Double
    var frame: Int
    var image: JobSpec.Image?
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
    var jobs: [JobSpec]
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
        jobs = segment.jobs.map { $0.spec(in: shot) }
        estimated_credits = segment.estimatedCredits
    }
}

/// A shot's delivery at another aspect ratio, as `keyfarm plan --json` lists it.
struct ReframeDocument: Encodable {
    var aspect: String
    var jobs: [JobSpec]
    var stitch: JobSpec
    var estimated_credits: Int
}

struct DynamicKey: CodingKey, ExpressibleByStringLiteral {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
    init(stringLiteral value: String) { stringValue = value }
}
