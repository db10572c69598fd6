/// Turns a validated shot list into jobs: frame mapping, segments, continuity dependencies,
/// provider duration buckets, chained parts for long segments, a stitch job per shot and cost
/// estimates. Pure and deterministic: the same shot list and prices give the same plan.
public struct Planner: Sendable {
    public var prices: PriceTable

    public init(prices: PriceTable = .defaults) { self.prices = prices }

    public func plan(_ list: ShotList) -> Plan {
        var warnings: [String] = []
        let shots = list.shots.map { plan(shot: $0, warnings: &warnings) }
        return Plan(shotList: list.name, project: list.project, budget: list.budget, shots: shots, warnings: warnings)
    }

    func plan(shot: Shot, warnings: inout [String]) -> PlannedShot {
        let frameCount = shot.frameCount
        let keyframeFrames = shot.keyframes.indices.map { shot.frame(ofKeyframe: $0) }
        var segments: [PlannedSegment] = []
        for index in 0..<(shot.keyframes.count - 1) {
            let override = shot.segmentOverrides[index]
            let engine = override?.engine ?? shot.engine
            let start = shot.keyframes[index], end = shot.keyframes[index + 1]
            let prompt = override?.prompt ?? start.prompt
            // A keyframe without an image (after the first) continues from the previous segment.
            let continues = index > 0 && start.image == nil
            let startImage: ImageSource = continues
                ? .lastFrameOf(job: segments[index - 1].jobs.last!.key)
                : ImageSource(start.image)
            let spans = parts(from: keyframeFrames[index], to: keyframeFrames[index + 1], engine: engine, fps: shot.fps)
            var jobs: [PlannedJob] = []
            for (p, span) in spans.enumerated() {
                let isFirst = p == 0, isLast = p == spans.count - 1
                let key = spans.count == 1 ? "\(shot.id)/s\(index)" : "\(shot.id)/s\(index)p\(p + 1)"
                let bucket = self.bucket(frames: span.end - span.start, engine: engine, fps: shot.fps)
                let price = prices.credits(engine: engine, bucket: bucket, resolution: shot.resolution)
                if price == nil, !warnings.contains(where: { $0.hasPrefix("no price for \(engine.name) ") }) {
                    warnings.append("no price for \(engine.name) (\(bucket.map { "\($0) s" } ?? "any length") at \(shot.resolution.rawValue)); its jobs count 0 credits in estimates until the operator sets one")
                }
                var dependsOn: [String] = []
                if isFirst, case .lastFrameOf(let previous) = startImage { dependsOn.append(previous) }
                if !isFirst { dependsOn.append(jobs[p - 1].key) }
                jobs.append(PlannedJob(
                    key: key, kind: .segment, shotID: shot.id, segmentIndex: index, part: p + 1, partCount: spans.count,
                    startFrame: span.start, endFrame: span.end, engine: engine, durationBucket: bucket, prompt: prompt,
                    startImage: isFirst ? startImage : .lastFrameOf(job: jobs[p - 1].key),
                    endImage: isLast ? ImageSource(end.image) : .none,
                    dependsOn: dependsOn, priority: override?.priority ?? shot.priority,
                    maxAttempts: override?.maxAttempts ?? shot.maxAttempts,
                    estimatedCredits: price ?? 0, priceKnown: price != nil))
            }
            segments.append(PlannedSegment(index: index, startFrame: keyframeFrames[index],
                                           endFrame: keyframeFrames[index + 1], engine: engine, prompt: prompt,
                                           dependsOn: continues ? [index - 1] : [], jobs: jobs))
        }
        let stitch = PlannedJob(
            key: "\(shot.id)/stitch", kind: .stitch, shotID: shot.id, segmentIndex: nil, part: 1, partCount: 1,
            startFrame: 0, endFrame: frameCount - 1, engine: nil, durationBucket: nil, prompt: nil,
            startImage: .none, endImage: .none, dependsOn: segments.flatMap { $0.jobs.map(\.key) },
            priority: shot.priority, maxAttempts: shot.maxAttempts, estimatedCredits: 0, priceKnown: true)
        return PlannedShot(shot: shot, frames: frameCount, keyframeFrames: keyframeFrames, segments: segments, stitch: stitch)
    }

    /// Splits frames [start, end] into the fewest near-equal parts the engine's longest clip covers.
    func parts(from start: Int, to end: Int, engine: Engine, fps: FrameRate) -> [(start: Int, end: Int)] {
        guard let longest = engine.durationBuckets?.last else { return [(start, end)] }
        let span = end - start
        let maximumSpan = Int((Rational(Int64(longest)) * fps.rational).floor())
        let count = Swift.max(1, (span + maximumSpan - 1) / maximumSpan)
        return (0..<count).map { p in
            (start + span * p / count, start + span * (p + 1) / count)
        }
    }

    /// The shortest clip length the provider offers that covers `frames` frame intervals.
    func bucket(frames span: Int, engine: Engine, fps: FrameRate) -> Int? {
        guard let buckets = engine.durationBuckets else { return nil }
        let seconds = Rational(Int64(span)) / fps.rational
        return buckets.first { Rational(Int64($0)) >= seconds } ?? buckets.last
    }
}
