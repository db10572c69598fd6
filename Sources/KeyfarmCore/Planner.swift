/// Turns a validated shot list into jobs: frame mapping, segments, continuity dependencies,
/// provider duration buckets, chained parts for long segments, a stitch job per shot and cost
/// estimates. Pure and deterministic: the same shot list and prices give the same plan.
public struct Planner: Sendable {
    public var prices: PriceTable
    /// How fal and WaveSpeed models name their inputs; each such segment job carries its
    /// model's mapping in its spec, so the worker builds the body this table describes.
    public var models: ModelInputTable

    public init(prices: PriceTable = .defaults, models: ModelInputTable = .builtIn) {
        self.prices = prices
        self.models = models
    }

    public func plan(_ list: ShotList) -> Plan {
        var warnings: [String] = []
        var shots = list.shots.map { plan(shot: $0.draft ? $0.asDraft : $0, warnings: &warnings) }
        for s in shots.indices {
            for g in shots[s].segments.indices {
                for j in shots[s].segments[g].jobs.indices {
                    guard let engine = shots[s].segments[g].jobs[j].engine, ModelInputTable.applies(to: engine) else { continue }
                    shots[s].segments[g].jobs[j].modelInputs = models.inputs(for: engine)
                }
            }
            shots[s].assignRequestKeys()
        }
        return Plan(shotList: list.name, project: list.project, budget: list.budget, shots: shots, warnings: warnings)
    }

    func plan(shot: Shot, warnings: inout [String]) -> PlannedShot {
        let frameCount = shot.frameCount
        let keyframeFrames = shot.keyframes.indices.map { shot.frame(ofKeyframe: $0) }
        var segments: [PlannedSegment] = []
        for span in spans(of: shot, keyframeFrames: keyframeFrames) {
            let index = span.first, last = span.last
            let override = shot.segmentOverrides[index]
            let engine = override?.engine ?? shot.engine
            let start = shot.keyframes[index], end = shot.keyframes[last]
            let prompt = self.prompt(of: shot, from: index, to: last)
            // A keyframe without an image (after the first) continues from the previous segment.
            let continues = index > 0 && start.image == nil
            let startImage: ImageSource = continues
                ? .lastFrameOf(job: segments[segments.count - 1].jobs.last!.key)
                : ImageSource(start.image)
            let parts = self.parts(from: keyframeFrames[index], to: keyframeFrames[last], engine: engine, fps: shot.fps)
            var jobs: [PlannedJob] = []
            for (p, part) in parts.enumerated() {
                let isFirst = p == 0, isLast = p == parts.count - 1
                let key = parts.count == 1 ? "\(shot.id)/s\(index)" : "\(shot.id)/s\(index)p\(p + 1)"
                var dependsOn: [String] = []
                if isFirst, case .lastFrameOf(let previous) = startImage { dependsOn.append(previous) }
                if !isFirst { dependsOn.append(jobs[p - 1].key) }
                var job = PlannedJob(
                    key: key, kind: .segment, shotID: shot.id, segmentIndex: index, part: p + 1, partCount: parts.count,
                    startFrame: part.start, endFrame: part.end, engine: engine, durationBucket: nil, prompt: prompt,
                    startImage: isFirst ? startImage : .lastFrameOf(job: jobs[p - 1].key),
                    endImage: isLast ? ImageSource(end.image) : .none,
                    dependsOn: dependsOn, priority: override?.priority ?? shot.priority,
                    maxAttempts: override?.maxAttempts ?? shot.maxAttempts,
                    estimatedCredits: 0, priceKnown: true)
                // A clip must last as long as the frames it covers; a multi-keyframe one also as
                // long as its last grid position.
                var seconds = Rational(Int64(part.end - part.start)) / shot.fps.rational
                if engine.takesManyKeyframes {
                    let covered: [Int?] = isFirst && isLast ? Array(index...last) : [isFirst ? index : nil, isLast ? last : nil]
                    (job.anchors, job.endPosition) = anchors(of: shot, job: job, keyframes: covered,
                                                             keyframeFrames: keyframeFrames, grid: engine.anchorGridFPS,
                                                             limit: engine.anchorGridFPS * (engine.durationBuckets?.last ?? 10))
                    seconds = Swift.max(seconds, Rational(Int64(job.endPosition!), Int64(engine.anchorGridFPS)))
                }
                job.durationBucket = bucket(seconds: seconds, engine: engine)
                if shot.hdr && engine.rendersHDR {
                    job.hdr = true
                    // The EXR export is the one documented HDR source for exr and hdr10 deliverables.
                    job.exrExport = engine.provider != nil && (shot.outputs.contains(.exr) || shot.outputs.contains(.hdr10))
                }
                // A draft's provider segment renders at the engine's draft tier.
                let resolution = shot.draft ? engine.draftResolution : shot.resolution
                if resolution != shot.resolution { job.resolution = resolution }
                let tier = PriceTable.Tier(hdr: job.hdr, exrExport: job.exrExport)
                let price = prices.credits(engine: engine, bucket: job.durationBucket, resolution: resolution, tier: tier)
                let priced = engine.name + tier.suffix
                if price == nil, !warnings.contains(where: { $0.hasPrefix("no price for \(priced) ") }) {
                    warnings.append("no price for \(priced) (\(job.durationBucket.map { "\($0) s" } ?? "any length") at \(resolution.rawValue)); its jobs count 0 credits in estimates until the operator sets one")
                }
                job.estimatedCredits = price ?? 0
                job.priceKnown = price != nil
                jobs.append(job)
            }
            segments.append(PlannedSegment(index: index, endKeyframe: last, startFrame: keyframeFrames[index],
                                           endFrame: keyframeFrames[last], engine: engine, prompt: prompt,
                                           dependsOn: continues ? [segments[segments.count - 1].index] : [], jobs: jobs))
        }
        let stitch = PlannedJob(
            key: "\(shot.id)/stitch", kind: .stitch, shotID: shot.id, segmentIndex: nil, part: 1, partCount: 1,
            startFrame: 0, endFrame: frameCount - 1, engine: nil, durationBucket: nil, prompt: nil,
            startImage: .none, endImage: .none, dependsOn: segments.flatMap { $0.jobs.map(\.key) },
            priority: shot.priority, maxAttempts: shot.maxAttempts, estimatedCredits: 0, priceKnown: true)
        var planned = PlannedShot(shot: shot, frames: frameCount, keyframeFrames: keyframeFrames, segments: segments, stitch: stitch)
        planned.reframes = shot.reframe.map { reframe(planned, to: $0, warnings: &warnings) }
        return planned
    }

    /// The jobs that deliver a shot at another aspect ratio. Each segment job on an engine that
    /// reframes (ray-3.2), unless the shot asks for `reframe_engine: local`, gets a reframe job
    /// after it (SDR, as the API's reframe has no HDR; estimated at the generation's SDR price,
    /// as Luma publishes no separate one); a stitch at the new aspect takes those and crops the
    /// other segments' frames from the master, for free.
    func reframe(_ planned: PlannedShot, to aspect: Aspect, warnings: inout [String]) -> PlannedReframe {
        let shot = planned.shot
        let tag = aspect.rawValue.replacingOccurrences(of: ":", with: "x")
        var jobs: [PlannedJob] = []
        var reframedBy: [String: String] = [:]
        for source in planned.segments.flatMap(\.jobs) {
            guard shot.reframeEngine == .auto, let engine = source.engine, engine.reframes else { continue }
            var job = source
            job.key = source.key + "r" + tag
            job.startImage = .none
            job.endImage = .none
            job.anchors = []
            job.hdr = false
            job.exrExport = false
            job.dependsOn = [source.key]
            job.reframe = ReframeSpec(aspect: aspect, position: shot.reframePosition, source: source.key)
            let price = prices.credits(engine: engine, bucket: source.durationBucket, resolution: shot.resolution)
            job.estimatedCredits = price ?? 0
            job.priceKnown = price != nil
            jobs.append(job)
            reframedBy[source.key] = job.key
        }
        var stitch = planned.stitch
        stitch.key = "\(shot.id)/stitch_\(tag)"
        stitch.dependsOn = planned.segments.flatMap { $0.jobs.map(\.key) } + jobs.map(\.key)
        stitch.reframe = ReframeSpec(aspect: aspect, position: shot.reframePosition, source: nil, reframedBy: reframedBy)
        return PlannedReframe(aspect: aspect, jobs: jobs, stitch: stitch)
    }

    /// A job's anchors and the grid position of its last frame. `keyframes` lists the shot's
    /// keyframes the job covers in order (nil where a chained part starts or ends between two
    /// keyframes); the first one's time is position 0. Keyframes without an image are not
    /// anchors, except that a continuity start (`lastFrameOf`) anchors position 0.
    func anchors(of shot: Shot, job: PlannedJob, keyframes: [Int?], keyframeFrames: [Int], grid: Int, limit: Int)
        -> (anchors: [Anchor], endPosition: Int) {
        func time(_ keyframe: Int?, frame: Int) -> Rational {
            keyframe.map { shot.keyframes[$0].at } ?? Rational(Int64(frame)) / shot.fps.rational
        }
        let origin = time(keyframes.first!, frame: job.startFrame)
        // The last keyframe of a shot sits on frame N-1 but at `duration`: a chained part that
        // ends there can reach one step past the grid, which holds it.
        func position(_ t: Rational) -> Int { Swift.min(limit, Int(((t - origin) * Rational(Int64(grid))).rounded())) }
        var anchors: [Anchor] = []
        if case .lastFrameOf = job.startImage {
            anchors.append(Anchor(keyframe: keyframes.first!, frame: job.startFrame, position: 0, image: job.startImage))
        }
        for case let k? in keyframes {
            guard let image = shot.keyframes[k].image, !anchors.contains(where: { $0.keyframe == k }) else { continue }
            // Keyframes closer than a grid step apart (a 60 fps shot) keep their order one step apart.
            let at = Swift.max(position(shot.keyframes[k].at), (anchors.last?.position ?? -1) + 1)
            anchors.append(Anchor(keyframe: k, frame: keyframeFrames[k], position: at, image: ImageSource(image)))
        }
        let endTime = time(keyframes.last!, frame: job.endFrame)
        return (anchors, Swift.max(position(endTime), anchors.last?.position ?? 0, 1))
    }

    /// The prompt of the generation that spans keyframes `first` to `last`: for one segment,
    /// its override's prompt or its start keyframe's, as before; for a span of several, every
    /// segment's prompt (and, at the shot's end, the last keyframe's) with its time in the
    /// generation, as `At 0 s: ... At 4.5 s: ...`; consecutive repeats are given once.
    func prompt(of shot: Shot, from first: Int, to last: Int) -> String? {
        func segmentPrompt(_ k: Int) -> String? { shot.segmentOverrides[k]?.prompt ?? shot.keyframes[k].prompt }
        if last == first + 1 { return segmentPrompt(first) }
        var timed: [(at: Rational, text: String)] = []
        for k in first...last {
            let text = k < last ? segmentPrompt(k) : (last == shot.keyframes.count - 1 ? shot.keyframes[k].prompt : nil)
            guard let text, !text.isEmpty, timed.last?.text != text else { continue }
            timed.append((shot.keyframes[k].at - shot.keyframes[first].at, text))
        }
        if timed.isEmpty { return nil }
        if timed.count == 1, timed[0].at == Rational(0) { return timed[0].text }
        return timed.map { "At \($0.at) s: \($0.text)" }.joined(separator: " ")
    }

    /// One generation's keyframe range: keyframe `first` to keyframe `last`.
    struct Span: Equatable {
        var first: Int
        var last: Int
    }

    /// Groups the shot's keyframe gaps into generations. Two-frame engines get one span per gap.
    /// Runs of gaps on an engine that takes many keyframes (same engine, priority and attempts)
    /// are covered by dynamic programming over keyframes: the fewest billed seconds first, then
    /// the most generations (more of them render in parallel). A span lasts at most the
    /// engine's longest clip, carries at most its anchor limit, and a gap longer than the
    /// longest clip stays a span of its own, split into chained parts.
    func spans(of shot: Shot, keyframeFrames: [Int]) -> [Span] {
        let gaps = shot.keyframes.count - 1
        func engine(_ k: Int) -> Engine { shot.segmentOverrides[k]?.engine ?? shot.engine }
        func mergeable(_ a: Int, _ b: Int) -> Bool {
            let x = shot.segmentOverrides[a], y = shot.segmentOverrides[b]
            return engine(a) == engine(b) && (x?.priority ?? shot.priority) == (y?.priority ?? shot.priority)
                && (x?.maxAttempts ?? shot.maxAttempts) == (y?.maxAttempts ?? shot.maxAttempts)
        }
        /// (billed seconds, generations) of rendering keyframe `p` to `q` as one span, or nil when it cannot be one.
        func cost(_ p: Int, _ q: Int) -> (billed: Int, generations: Int)? {
            let engine = engine(p)
            if q == p + 1 {
                let parts = self.parts(from: keyframeFrames[p], to: keyframeFrames[q], engine: engine, fps: shot.fps)
                let billed = parts.reduce(0) { total, part in
                    total + (bucket(seconds: Rational(Int64(part.end - part.start)) / shot.fps.rational, engine: engine) ?? 0)
                }
                return (billed, parts.count)
            }
            guard engine.takesManyKeyframes, let longest = engine.durationBuckets?.last,
                  (p..<q).allSatisfy({ mergeable(p, $0) }),
                  shot.keyframes[q].at - shot.keyframes[p].at <= Rational(Int64(longest)),
                  (p...q).filter({ shot.keyframes[$0].image != nil || $0 == p }).count <= engine.maxAnchors,
                  let bucket = bucket(seconds: shot.keyframes[q].at - shot.keyframes[p].at, engine: engine)
            else { return nil }
            return (bucket, 1)
        }
        // best[q]: the cheapest cover of keyframes 0...q, and where its last span starts.
        var best: [(billed: Int, generations: Int, from: Int)?] = Array(repeating: nil, count: gaps + 1)
        best[0] = (0, 0, 0)
        for q in 1...gaps {
            for p in Swift.stride(from: q - 1, through: 0, by: -1) {
                // A single gap is always a span; a longer one refused stays refused as p moves
                // back (longer, more anchors, more segments to agree).
                guard let before = best[p], let span = cost(p, q) else { break }
                let candidate = (billed: before.billed + span.billed, generations: before.generations + span.generations, from: p)
                if let current = best[q],
                   (current.billed, -current.generations) <= (candidate.billed, -candidate.generations) { continue }
                best[q] = candidate
            }
        }
        var spans: [Span] = []
        var q = gaps
        while q > 0 {
            let p = best[q]!.from
            spans.append(Span(first: p, last: q))
            q = p
        }
        return spans.reversed()
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

    /// The shortest clip length the provider offers that lasts `seconds`.
    func bucket(seconds: Rational, engine: Engine) -> Int? {
        guard let buckets = engine.durationBuckets else { return nil }
        return buckets.first { Rational(Int64($0)) >= seconds } ?? buckets.last
    }
}
