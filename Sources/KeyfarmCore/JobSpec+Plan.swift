/// The specs the planner writes: each planned job's, as `keyfarm submit` stores it and
/// `keyfarm plan --json` prints it.
extension PlannedJob {
    /// The job's full spec.
    public func spec(in shot: PlannedShot) -> JobSpec {
        kind == .stitch ? .stitch(StitchSpec(self, in: shot)) : .segment(SegmentSpec(self, in: shot))
    }

    /// The job's full spec as compact JSON, as stored in the database and sent to a worker.
    public func specJSON(shot: PlannedShot) -> String { spec(in: shot).json }

    /// The picture the job renders or delivers: the shot's, at its own resolution (a draft's
    /// provider segment), or at another aspect ratio (a reframe, at the shot's resolution).
    func picture(in planned: PlannedShot) -> (size: PictureSize, resolution: Resolution, aspect: Aspect) {
        let shot = planned.shot
        var picture = (size: shot.size, resolution: shot.resolution, aspect: shot.aspect)
        if let own = resolution {
            picture.size = PictureSize(resolution: own, aspect: shot.aspect)
            picture.resolution = own
        }
        if let reframe {
            picture.size = PictureSize(resolution: shot.resolution, aspect: reframe.aspect)
            picture.aspect = reframe.aspect
        }
        return picture
    }
}

extension SegmentSpec {
    init(_ job: PlannedJob, in planned: PlannedShot) {
        let shot = planned.shot, picture = job.picture(in: planned)
        // The planner gives every segment job an engine.
        self.init(key: job.key, shot: job.shotID, startFrame: job.startFrame, endFrame: job.endFrame,
                  width: picture.size.width, height: picture.size.height, engine: job.engine!)
        segmentIndex = job.segmentIndex
        part = job.part
        parts = job.partCount
        dependsOn = job.dependsOn
        priority = job.priority
        maxAttempts = job.maxAttempts
        estimatedCredits = job.estimatedCredits
        priceKnown = job.priceKnown
        requestKey = job.requestKey
        fps = shot.fps
        resolution = picture.resolution
        aspect = picture.aspect
        draft = shot.draft
        durationBucket = job.durationBucket
        prompt = job.prompt
        startImage = JobSpec.Image(job.startImage, hashes: shot.imageHashes)
        endImage = JobSpec.Image(job.endImage, hashes: shot.imageHashes)
        if engine.takesManyKeyframes {
            anchors = job.anchors.map { anchor in
                JobSpec.Anchor(keyframe: anchor.keyframe, frame: anchor.frame, position: anchor.position,
                               image: JobSpec.Image(anchor.image, hashes: shot.imageHashes))
            }
            endPosition = job.endPosition
        }
        hdr = job.hdr
        exrExport = job.hdr && job.exrExport
        reframe = job.reframe.map(JobSpec.Reframe.init)
        modelInputs = job.modelInputs
        take = job.take
        seed = job.seed
    }
}

extension StitchSpec {
    init(_ job: PlannedJob, in planned: PlannedShot) {
        let shot = planned.shot, picture = job.picture(in: planned)
        let pieces = planned.segments.flatMap(\.jobs).map { piece in
            var entry = Piece(key: piece.key, segmentIndex: piece.segmentIndex ?? 0, startFrame: piece.startFrame,
                              endFrame: piece.endFrame)
            entry.part = piece.part
            entry.parts = piece.partCount
            entry.engine = piece.engine?.name ?? ""
            entry.endPosition = piece.endPosition
            entry.reframeJob = job.reframe?.reframedBy[piece.key]
            entry.take = piece.take
            return entry
        }
        self.init(key: job.key, shot: job.shotID, endFrame: job.endFrame, fps: shot.fps,
                  width: picture.size.width, height: picture.size.height, segmentJobs: pieces)
        part = job.part
        parts = job.partCount
        startFrame = job.startFrame
        frames = job.frames
        dependsOn = job.dependsOn
        priority = job.priority
        maxAttempts = job.maxAttempts
        estimatedCredits = job.estimatedCredits
        priceKnown = job.priceKnown
        requestKey = job.requestKey
        resolution = picture.resolution
        aspect = picture.aspect
        draft = shot.draft
        outputs = shot.outputs
        seam = shot.seam
        hdr = job.hdr || shot.hdr
        exrColorspace = shot.exrColorspaceResolved
        if let spec = job.reframe {
            reframe = JobSpec.Reframe(spec)
            // The provider's reframes are SDR: the other aspects get the video deliverables only.
            let videos = shot.outputs.filter { $0 == .mp4 || $0 == .prores }
            outputs = videos.isEmpty ? [.mp4] : videos
        }
    }
}

extension JobSpec.Image {
    /// A planned image as the spec writes it, with a local file's content hash when known; nil for none.
    init?(_ source: ImageSource, hashes: [String: String] = [:]) {
        switch source {
        case .none: return nil
        case .file(let path): self = .file(path: path, sha256: hashes[path])
        case .url(let url): self = .url(url)
        case .lastFrameOf(let job): self = .lastFrameOf(job: job)
        }
    }
}

extension JobSpec.Reframe {
    init(_ spec: ReframeSpec) {
        self.init(aspect: spec.aspect, tag: spec.aspect.rawValue.replacingOccurrences(of: ":", with: "x"),
                  position: spec.position, of: spec.source)
    }
}
