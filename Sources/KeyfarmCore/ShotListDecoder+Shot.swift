import Foundation
import Yams

extension ShotListDecoder {
    static let maximumDuration = Rational(20)
    static let keyframeLimits = 2...16

    func readShot(_ node: Node, index: Int, defaults: ShotSettings, seenIDs: inout [String: Int],
                  reader: inout FieldReader) -> Shot? {
        let path = "shots[\(index)]"
        guard let fields = reader.mapping(node, path, allowed: Self.shotKeys, what: "a shot") else { return nil }
        let before = reader.issues.count

        var id: String?
        if let idNode = fields["id"]?.value {
            if let value = reader.string(idNode, path + ".id") {
                if !Self.isShotID(value) {
                    reader.report(path + ".id", "\"\(value)\" is not a valid shot id; allowed: [A-Za-z0-9][A-Za-z0-9_-]{0,31}", at: idNode)
                } else if let first = seenIDs[value] {
                    reader.report(path + ".id", "\"\(value)\" is already used by shots[\(first)]; shot ids are unique within a list", at: idNode)
                } else {
                    seenIDs[value] = index
                    id = value
                }
            }
        } else {
            reader.report(path + ".id", "missing; every shot needs an id", at: node)
        }

        var duration: Rational?
        if let durationNode = fields["duration"]?.value,
           let value = reader.decimal(durationNode, path + ".duration", what: "a number of seconds") {
            if value <= Rational(0) {
                reader.report(path + ".duration", "\(value) s; a shot lasts more than 0 s", at: durationNode)
            } else if value > Self.maximumDuration {
                reader.report(path + ".duration", "\(value) s, at most 20 s", at: durationNode)
            } else {
                duration = value
            }
        } else if fields["duration"] == nil {
            reader.report(path + ".duration", "missing; give the shot's length in seconds (at most 20)", at: node)
        }

        let settings = readSettings(fields, path: path, inheriting: defaults, reader: &reader)

        // Keyframes: read each one whatever else is wrong, so every error shows at once.
        var keyframes: [Keyframe?] = []
        var times: [Rational?] = []
        var keyframeNodes: [Node] = []
        let keyframesPath = path + ".keyframes"
        if let listNode = fields["keyframes"]?.value {
            if let list = reader.sequence(listNode, keyframesPath, what: "keyframes") {
                if list.count < Self.keyframeLimits.lowerBound {
                    reader.report(keyframesPath, "\(list.count) keyframe\(list.count == 1 ? "" : "s"), at least 2 (one at 0 and one at the shot's duration)", at: listNode)
                } else if list.count > Self.keyframeLimits.upperBound {
                    reader.report(keyframesPath, "\(list.count) keyframes, at most 16", at: listNode)
                }
                for (k, item) in list.enumerated() {
                    let read = readKeyframe(item, path: keyframesPath + "[\(k)]", reader: &reader)
                    keyframes.append(read.keyframe)
                    times.append(read.at)
                    keyframeNodes.append(item)
                }
            }
        } else {
            reader.report(keyframesPath, "missing; a shot needs 2..16 keyframes", at: node)
        }

        checkTiming(times, nodes: keyframeNodes, path: keyframesPath, duration: duration, fps: settings.fps,
                    reader: &reader)

        let segmentCount = Swift.max(keyframes.count - 1, 0)
        var overrides: [Int: SegmentOverride] = [:]
        if let segmentsNode = fields["segments"]?.value {
            overrides = readOverrides(segmentsNode, path: path + ".segments", segmentCount: segmentCount, reader: &reader)
        }

        let complete = keyframes.compactMap { $0 }
        if let engine = settings.engine, complete.count == keyframes.count, !keyframes.isEmpty {
            checkImages(complete, nodes: keyframeNodes, path: keyframesPath, shotEngine: engine,
                        overrides: overrides, reader: &reader)
        }

        guard reader.issues.count == before, let id, let duration, let fps = settings.fps,
              let resolution = settings.resolution, let aspect = settings.aspect, let engine = settings.engine,
              let outputs = settings.outputs, let seam = settings.seam, let priority = settings.priority,
              let maxAttempts = settings.maxAttempts, let hdr = settings.hdr, let exrColorspace = settings.exrColorspace,
              let reframe = settings.reframe, let reframePosition = settings.reframePosition,
              let reframeEngine = settings.reframeEngine, let reuse = settings.reuse,
              let draft = settings.draft
        else { return nil }
        var shot = Shot(id: id, duration: duration, fps: fps, resolution: resolution, aspect: aspect, engine: engine,
                        outputs: outputs, seam: seam, priority: priority, maxAttempts: maxAttempts,
                        keyframes: complete, segmentOverrides: overrides)
        shot.hdr = hdr
        shot.exrColorspace = exrColorspace
        shot.reframe = reframe
        shot.reframePosition = reframePosition
        shot.reframeEngine = reframeEngine
        shot.reuse = reuse
        shot.draft = draft
        if reframe.contains(aspect) {
            reader.report(path + ".reframe", "\(aspect.rawValue) is the shot's own aspect; list only other ones",
                          at: fields["reframe"]?.value ?? node)
            return nil
        }
        if hdr {
            // Every engine the shot renders with must render HDR.
            let engines = [engine] + (0..<(complete.count - 1)).compactMap { overrides[$0]?.engine }
            if let refused = engines.first(where: { !$0.rendersHDR }) {
                reader.report(path + ".hdr", "\(refused.name) cannot render HDR; engines that can: "
                              + Engine.hdrNames.joined(separator: ", "), at: fields["hdr"]?.value ?? node)
                return nil
            }
            if let limited = engines.first(where: { !($0.hdrResolutions?.contains(resolution) ?? true) }) {
                let allowed = limited.hdrResolutions!.map(\.rawValue).joined(separator: " and ")
                reader.report(path + ".resolution", "\(limited.name) renders HDR at \(allowed) only; \(resolution.rawValue) is SDR only",
                              at: fields["resolution"]?.value ?? fields["hdr"]?.value ?? node)
                return nil
            }
        } else if outputs.contains(.hdr10) {
            reader.report(path + ".outputs", "hdr10 needs hdr: true (an HDR10 master is made from HDR frames)",
                          at: fields["outputs"]?.value ?? node)
            return nil
        }
        if seam > 0 {
            for segment in 0..<(shot.keyframes.count - 1) {
                let frames = shot.frame(ofKeyframe: segment + 1) - shot.frame(ofKeyframe: segment) + 1
                if frames <= seam * 2 {
                    let seamNode = fields["seam"]?.value ?? node
                    reader.report(path + ".seam", "\(seam) frames is too long for segment \(segment), which has \(frames) frames; a seam crossfade needs segments longer than twice the seam", at: seamNode)
                    return nil
                }
            }
        }
        return shot
    }

    /// A keyframe when all of it is valid, and its time whenever that alone is (for the timing checks).
    private func readKeyframe(_ node: Node, path: String, reader: inout FieldReader) -> (keyframe: Keyframe?, at: Rational?) {
        guard let fields = reader.mapping(node, path, allowed: Self.keyframeKeys, what: "a keyframe") else { return (nil, nil) }
        let before = reader.issues.count
        var at: Rational?
        if let atNode = fields["at"]?.value,
           let value = reader.decimal(atNode, path + ".at", what: "a time in seconds") {
            if value < Rational(0) {
                reader.report(path + ".at", "\(value) is negative; keyframe times run from 0 to the shot's duration", at: atNode)
            } else {
                at = value
            }
        } else if fields["at"] == nil {
            reader.report(path + ".at", "missing; every keyframe needs a time in seconds", at: node)
        }
        var image: ImageReference?
        if let imageNode = fields["image"]?.value, !reader.isNull(imageNode) {
            image = readImage(imageNode, path + ".image", reader: &reader)
        }
        var prompt: String?
        if let promptNode = fields["prompt"]?.value {
            prompt = readPrompt(promptNode, path + ".prompt", reader: &reader)
        }
        guard reader.issues.count == before, let at else { return (nil, at) }
        return (Keyframe(at: at, image: image, prompt: prompt), at)
    }

    /// Keyframe order, the first at 0, the last at the duration, and no two on one frame.
    private func checkTiming(_ times: [Rational?], nodes: [Node], path: String, duration: Rational?,
                             fps: FrameRate?, reader: inout FieldReader) {
        guard !times.isEmpty else { return }
        if let first = times.first ?? nil, first != Rational(0) {
            reader.report(path + "[0].at", "\(first); the first keyframe must be at 0", at: nodes[0])
        }
        var previous: (index: Int, at: Rational)?
        for (k, time) in times.enumerated() {
            guard let at = time else { previous = nil; continue }
            if let previous, at <= previous.at {
                reader.report(path + "[\(k)].at", "\(at) is not after keyframes[\(previous.index)].at (\(previous.at)); keyframe times must strictly increase", at: nodes[k])
            }
            if let duration, at > duration {
                reader.report(path + "[\(k)].at", "\(at) is after the shot's end (duration \(duration))", at: nodes[k])
            }
            previous = (k, at)
        }
        if let duration, times.count >= 2, let last = times.last ?? nil, last < duration {
            reader.report(path + "[\(times.count - 1)].at", "\(last); the last keyframe must be at the shot's duration (\(duration))", at: nodes[times.count - 1])
        }
        guard let duration, let fps else { return }
        let frameCount = Int((duration * fps.rational).rounded())
        if frameCount < 2 {
            reader.report(path, "the shot is \(frameCount) frame\(frameCount == 1 ? "" : "s") long at \(fps) fps; it needs at least 2", at: nodes.first)
            return
        }
        var frames: [(index: Int, frame: Int)] = []
        for (k, time) in times.enumerated() {
            guard let at = time, at <= duration else { continue }
            let frame = Swift.min(fps.frame(at: at), frameCount - 1)
            if let clash = frames.last, clash.frame == frame {
                reader.report("\(path)[\(clash.index)..\(k)]", "both land on frame \(frame) at \(fps) fps; keyframes need at least one frame between them", at: nodes[k])
            }
            frames.append((k, frame))
        }
    }

    private func readOverrides(_ node: Node, path: String, segmentCount: Int,
                               reader: inout FieldReader) -> [Int: SegmentOverride] {
        guard case .mapping(let mapping) = node else {
            reader.report(path, "must be a mapping from segment index to overrides, e.g. \"1\": { engine: luma/ray-3.2 }, found \(reader.describe(node))", at: node)
            return [:]
        }
        var overrides: [Int: SegmentOverride] = [:]
        for (key, value) in mapping {
            let text = key.string ?? ""
            let entryPath = path + "[\"\(text)\"]"
            guard let index = Int(text), String(index) == text else {
                reader.report(entryPath, "\"\(text)\" is not a segment index; segments are numbered 0..\(Swift.max(segmentCount - 1, 0)) (segment i spans keyframe i to i+1)", at: key)
                continue
            }
            guard index >= 0, index < segmentCount else {
                reader.report(entryPath, "no such segment; this shot has \(segmentCount) segment\(segmentCount == 1 ? "" : "s") (0..\(Swift.max(segmentCount - 1, 0)))", at: key)
                continue
            }
            if overrides[index] != nil {
                reader.report(entryPath, "duplicate key (segment \(index) is overridden twice)", at: key)
                continue
            }
            guard let fields = reader.mapping(value, entryPath, allowed: Self.overrideKeys, what: "a segment override") else { continue }
            var override = SegmentOverride()
            if let engineNode = fields["engine"]?.value { override.engine = readEngine(engineNode, entryPath + ".engine", reader: &reader) }
            if let promptNode = fields["prompt"]?.value { override.prompt = readPrompt(promptNode, entryPath + ".prompt", reader: &reader) }
            if let priorityNode = fields["priority"]?.value {
                override.priority = reader.integer(priorityNode, entryPath + ".priority", range: 0...100)
            }
            if let attemptsNode = fields["max_attempts"]?.value {
                override.maxAttempts = reader.integer(attemptsNode, entryPath + ".max_attempts", range: 1...10)
            }
            overrides[index] = override
        }
        return overrides
    }

    /// Which keyframes need an image, given the engine of each segment.
    private func checkImages(_ keyframes: [Keyframe], nodes: [Node], path: String, shotEngine: Engine,
                             overrides: [Int: SegmentOverride], reader: inout FieldReader) {
        for segment in 0..<Swift.max(keyframes.count - 1, 0) {
            let engine = overrides[segment]?.engine ?? shotEngine
            let start = keyframes[segment], end = keyframes[segment + 1]
            if engine == .interpolate {
                if segment == 0 && start.image == nil {
                    reader.report(path + "[0].image", "missing; segment 0 uses interpolate, which needs an image at both ends (only a provider engine can start from a prompt alone)", at: nodes[0])
                }
                if end.image == nil {
                    reader.report(path + "[\(segment + 1)].image", "missing; segment \(segment) uses interpolate, which needs an image at both ends", at: nodes[segment + 1])
                }
            } else if segment == 0 && start.image == nil && start.prompt == nil && overrides[0]?.prompt == nil {
                reader.report(path + "[0]", "has neither image nor prompt; a text-to-video start with \(engine) needs a prompt", at: nodes[0])
            }
        }
    }
}
