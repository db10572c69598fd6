import Foundation
import Testing
@testable import KeyfarmCore

@Suite struct PlannerTests {
    /// The example from SHOTLIST.md, with its images present.
    static let specExample = """
    version: 1
    name: acme-spot
    project: acme
    budget: 4000
    defaults:
      fps: 24
      resolution: 1080p
      aspect: "16:9"
      engine: interpolate
      outputs: [mp4]
      seam: 0
      priority: 50
      max_attempts: 3
    shots:
      - id: sh010
        duration: 12.5
        keyframes:
          - at: 0
            image: refs/a.png
            prompt: "wide establishing shot, office corridor, overhead fluorescent light"
          - at: 4.5
            prompt: "medium shot, man in navy suit walks toward camera"
          - at: 12.5
            image: refs/b.png
        segments:
          "1": { engine: luma/ray-3.2, prompt: "even pace, camera holds" }
    """

    @Test func plansTheSpecExampleFrameExactly() throws {
        let plan = try plan(Self.specExample.replacingOccurrences(of: "engine: interpolate", with: "engine: luma/ray-flash-2"))
        #expect(plan.shotList == "acme-spot")
        #expect(plan.project == "acme")
        #expect(plan.budget == 4000)
        let shot = try #require(plan.shots.first)
        #expect(shot.frames == 300)
        #expect(shot.keyframeFrames == [0, 108, 299])
        #expect(shot.segments.map(\.startFrame) == [0, 108])
        #expect(shot.segments.map(\.endFrame) == [108, 299])
    }

    @Test func interpolateNeedsAnImageAtBothEnds() {
        // With interpolate, segment 0's end keyframe has no image: the decoder names it.
        let found = issues(Self.specExample)
        #expect(found.count == 1)
        #expect(found.first?.path == "shots[0].keyframes[1].image")
        #expect(found.first?.message.contains("segment 0 uses interpolate") == true)
    }

    @Test func continuityChainsTheNextSegmentToThePreviousOne() throws {
        let text = Self.specExample.replacingOccurrences(of: "engine: interpolate", with: "engine: luma/ray-2")
        let plan = try plan(text)
        let shot = try #require(plan.shots.first)
        #expect(shot.segments[0].engine == .lumaRay2)
        #expect(shot.segments[1].engine == .lumaRay32)
        #expect(shot.segments[1].dependsOn == [0])
        #expect(shot.segments[1].prompt == "even pace, camera holds")
        let second = shot.segments[1].jobs[0]
        #expect(second.startImage == .lastFrameOf(job: "sh010/s0"))
        #expect(second.endImage == .file(path: "/shots/refs/b.png"))
        #expect(second.dependsOn == ["sh010/s0"])
        // 108 frames = 4.5 s fits the 5 s bucket; 191 frames = 7.96 s needs ray-3.2's 10 s bucket.
        #expect(shot.segments[0].jobs[0].durationBucket == 5)
        #expect(second.durationBucket == 10)
        #expect(shot.segments[0].jobs[0].estimatedCredits == 159)
        #expect(second.estimatedCredits == 240)
        #expect(plan.estimatedCredits == 399)
        #expect(shot.stitch.dependsOn == ["sh010/s0", "sh010/s1"])
        #expect(shot.stitch.kind == .stitch)
        #expect(shot.stitch.estimatedCredits == 0)
    }

    @Test func sixteenKeyframesOverTwentySeconds() throws {
        let lines = (0..<16).map { k -> String in
            let at = Rational(Int64(20 * k), 15)   // evenly spaced, 0 .. 20
            let decimal = String(format: "%.6f", at.doubleValue)
            return "      - at: \(k == 15 ? "20" : decimal)\n        image: refs/\(k % 2 == 0 ? "a" : "b").png"
        }.joined(separator: "\n")
        let plan = try plan(oneShot(duration: "20", keyframes: lines))
        let shot = try #require(plan.shots.first)
        #expect(shot.frames == 480)
        #expect(shot.segments.count == 15)
        #expect(shot.keyframeFrames.first == 0)
        #expect(shot.keyframeFrames.last == 479)
        #expect(shot.keyframeFrames[1] == 32)      // 1.333333 s * 24 = 31.99999 -> 32
        // Neighbours share their boundary frame; together the segments cover every frame once.
        for (a, b) in zip(shot.segments, shot.segments.dropFirst()) { #expect(a.endFrame == b.startFrame) }
        let covered = shot.segments.reduce(0) { $0 + $1.frames } - (shot.segments.count - 1)
        #expect(covered == 480)
        #expect(plan.jobs.count == 16)
        #expect(plan.estimatedCredits == 0)
    }

    @Test func ntscFrameRate() throws {
        let text = oneShot(duration: "10", settings: "    fps: \"24000/1001\"", keyframes: """
              - at: 0
                image: refs/a.png
              - at: 4.5
                image: refs/c.exr
              - at: 10
                image: refs/b.png
        """)
        let shot = try #require(try plan(text).shots.first)
        #expect(shot.frames == 240)                  // 239.76 -> 240
        #expect(shot.keyframeFrames == [0, 108, 239]) // 107.892 -> 108; the end clamps to N-1
        #expect(shot.shot.fps.description == "24000/1001")
    }

    @Test func longSegmentsSplitIntoChainedParts() throws {
        let text = oneShot(duration: "20", settings: "    engine: luma/ray-2", keyframes: """
              - at: 0
                image: refs/a.png
                prompt: "a slow dolly across a harbour at dawn"
              - at: 20
                image: refs/b.png
        """)
        let shot = try #require(try plan(text).shots.first)
        let jobs = shot.segments[0].jobs
        // 479 frame intervals; ray-2's longest clip is 9 s = 216 intervals: three parts.
        #expect(jobs.map(\.key) == ["sh010/s0p1", "sh010/s0p2", "sh010/s0p3"])
        #expect(jobs.map(\.startFrame) == [0, 159, 319])
        #expect(jobs.map(\.endFrame) == [159, 319, 479])
        #expect(jobs.map(\.durationBucket) == [9, 9, 9])
        #expect(jobs[0].startImage == .file(path: "/shots/refs/a.png"))
        #expect(jobs[0].endImage == .none)
        #expect(jobs[1].startImage == .lastFrameOf(job: "sh010/s0p1"))
        #expect(jobs[1].dependsOn == ["sh010/s0p1"])
        #expect(jobs[2].endImage == .file(path: "/shots/refs/b.png"))
        #expect(jobs.allSatisfy { $0.prompt == "a slow dolly across a harbour at dawn" })
        #expect(shot.estimatedCredits == 3 * 287)
        #expect(shot.stitch.dependsOn == jobs.map(\.key))
    }

    @Test func textToVideoStartAndUnpricedEngines() throws {
        let text = oneShot(duration: "8", settings: "    engine: wavespeed/kwaivgi/kling-v2.1-i2v-pro\n    resolution: 720p", keyframes: """
              - at: 0
                prompt: "a lighthouse in fog"
              - at: 8
        """)
        let plan = try plan(text)
        let job = try #require(plan.shots.first?.segments.first?.jobs.first)
        #expect(job.startImage == .none)
        #expect(job.endImage == .none)
        #expect(job.durationBucket == 10)
        #expect(job.priceKnown == false)
        #expect(job.estimatedCredits == 0)
        #expect(plan.warnings.count == 1)
        #expect(plan.warnings[0].contains("no price for wavespeed/kwaivgi/kling-v2.1-i2v-pro"))
    }

    @Test func overridesSetPriorityAndAttemptsPerSegment() throws {
        let text = oneShot(duration: "6", settings: "    priority: 70\n    max_attempts: 2\n    engine: fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video", keyframes: """
              - at: 0
                image: refs/a.png
              - at: 3
                image: refs/b.png
              - at: 6
                image: https://example.com/c.png
            segments:
              "1": { priority: 90, max_attempts: 5, engine: interpolate }
        """)
        let shot = try #require(try plan(text).shots.first)
        #expect(shot.segments[0].jobs[0].priority == 70)
        #expect(shot.segments[0].jobs[0].maxAttempts == 2)
        #expect(shot.segments[0].jobs[0].estimatedCredits == 35)
        #expect(shot.segments[1].jobs[0].priority == 90)
        #expect(shot.segments[1].jobs[0].maxAttempts == 5)
        #expect(shot.segments[1].engine == .interpolate)
        #expect(shot.segments[1].jobs[0].endImage == .url("https://example.com/c.png"))
    }

    @Test func planIsDeterministicAndItsJSONHasTheDocumentedShape() throws {
        let text = Self.specExample.replacingOccurrences(of: "engine: interpolate", with: "engine: luma/ray-2")
        let first = try plan(text), second = try plan(text)
        #expect(first == second)
        #expect(first.jsonData() == second.jsonData())
        let object = try #require(try JSONSerialization.jsonObject(with: first.jsonData()) as? [String: Any])
        #expect(object["shot_list"] as? String == "acme-spot")
        #expect(object["estimated_credits"] as? Int == 399)
        let shots = try #require(object["shots"] as? [[String: Any]])
        #expect(shots[0]["id"] as? String == "sh010")
        #expect(shots[0]["fps"] as? Double == 24)
        #expect(shots[0]["frames"] as? Int == 300)
        #expect(shots[0]["estimated_credits"] as? Int == 399)
        let segments = try #require(shots[0]["segments"] as? [[String: Any]])
        #expect(segments.map { $0["index"] as? Int } == [0, 1])
        #expect(segments.map { $0["start_frame"] as? Int } == [0, 108])
        #expect(segments.map { $0["end_frame"] as? Int } == [108, 299])
        #expect(segments.map { $0["engine"] as? String } == ["luma/ray-2", "luma/ray-3.2"])
        #expect(segments[1]["depends_on"] as? [Int] == [0])
        #expect(segments.map { $0["estimated_credits"] as? Int } == [159, 240])
    }
}

/// Planning for engines that take many keyframes per generation (ray-3.2).
@Suite struct MultiKeyframePlannerTests {
    /// 16 keyframes over 20 s, none at 5 s or 15 s, one at 10 s.
    static let times = ["0", "1.25", "2.5", "3.75", "4.5", "6", "7.25", "8.5", "10", "11.25", "12.5", "13.75", "16", "17.25", "18.5", "20"]

    static func sixteenKeyframes(engine: String) -> String {
        let lines = times.enumerated().map { k, at in
            "      - at: \(at)\n        image: refs/\(k % 2 == 0 ? "a" : "b").png\n        prompt: \"beat \(k)\""
        }.joined(separator: "\n")
        return oneShot(duration: "20", settings: "    engine: \(engine)", keyframes: lines)
    }

    @Test func twentySecondsOfSixteenKeyframesIsTwoTenSecondGenerations() throws {
        let planned = try plan(Self.sixteenKeyframes(engine: "luma/ray-3.2"))
        let shot = try #require(planned.shots.first)
        let jobs = shot.segments.flatMap(\.jobs)
        #expect(jobs.map(\.key) == ["sh010/s0", "sh010/s8"])
        #expect(shot.segments.map(\.endKeyframe) == [8, 15])
        #expect(jobs.map(\.durationBucket) == [10, 10])
        #expect(jobs.map(\.startFrame) == [0, 240])
        #expect(jobs.map(\.endFrame) == [240, 479])
        // Every keyframe rides along, on the 24 fps grid of its own generation; the boundary one in both.
        #expect(jobs[0].anchors.map(\.keyframe) == Array(0...8))
        #expect(jobs[0].anchors.map(\.position) == [0, 30, 60, 90, 108, 144, 174, 204, 240])
        #expect(jobs[1].anchors.map(\.keyframe) == Array(8...15))
        #expect(jobs[1].anchors.map(\.position) == [0, 30, 60, 90, 144, 174, 204, 240])
        #expect(jobs[1].anchors.last?.frame == 479)
        #expect(jobs.map(\.endPosition) == [240, 240])
        #expect(jobs[0].anchors[3].image == .file(path: "/shots/refs/b.png"))
        // Two 10 s generations bill 2 x 240 where fifteen 5 s ones billed 15 x 120.
        #expect(planned.estimatedCredits == 480)
        #expect(jobs[0].dependsOn.isEmpty && jobs[1].dependsOn.isEmpty)
        // The prompts of the keyframes a generation spans, each with its time in the generation.
        #expect(jobs[0].prompt?.hasPrefix("At 0 s: beat 0 At 1.25 s: beat 1 At 2.5 s: beat 2") == true)
        #expect(jobs[1].prompt?.hasSuffix("At 8.5 s: beat 14 At 10 s: beat 15") == true)
        // A two-frame engine still renders each gap on its own.
        let legacy = try plan(Self.sixteenKeyframes(engine: "luma/ray-2"))
        #expect(legacy.jobs.count == 16)
        #expect(legacy.estimatedCredits == 15 * 159)
    }

    @Test func equalBilledSecondsPreferMoreGenerations() throws {
        // 0, 5, 10: one 10 s generation or two 5 s ones bill the same 10 s; two render in parallel.
        let text = oneShot(duration: "10", settings: "    engine: luma/ray-3.2", keyframes: """
              - at: 0
                image: refs/a.png
              - at: 2
                image: refs/b.png
              - at: 5
                image: refs/a.png
              - at: 10
                image: refs/b.png
        """)
        let shot = try #require(try plan(text).shots.first)
        #expect(shot.segments.map(\.index) == [0, 2])
        #expect(shot.segments.map(\.endKeyframe) == [2, 3])
        #expect(shot.segments.flatMap(\.jobs).map(\.durationBucket) == [5, 5])
        #expect(shot.segments[0].jobs[0].anchors.map(\.position) == [0, 48, 120])
        #expect(shot.estimatedCredits == 240)
    }

    @Test func aShortSpanUsesTheFiveSecondClipAndDropsItsTail() throws {
        let text = oneShot(duration: "3.5", settings: "    engine: luma/ray-3.2", keyframes: """
              - at: 0
                image: refs/a.png
              - at: 1.5
              - at: 3.5
                image: refs/b.png
        """)
        let job = try #require(try plan(text).shots.first?.segments.first?.jobs.first)
        #expect(job.durationBucket == 5)
        // The keyframe without an image is no anchor; its prompt (none here) would join the prompt.
        #expect(job.anchors.map(\.keyframe) == [0, 2])
        #expect(job.anchors.map(\.position) == [0, 84])
        #expect(job.endPosition == 84)
        #expect(job.endFrame == 83)
    }

    @Test func keyframesMoreThanTenSecondsApartChainAsParts() throws {
        let text = oneShot(duration: "20", settings: "    engine: luma/ray-3.2", keyframes: """
              - at: 0
                image: refs/a.png
              - at: 20
                image: refs/b.png
        """)
        let jobs = try #require(try plan(text).shots.first?.segments.first?.jobs)
        #expect(jobs.map(\.key) == ["sh010/s0p1", "sh010/s0p2"])
        #expect(jobs.map(\.durationBucket) == [10, 10])
        #expect(jobs[0].anchors.map(\.keyframe) == [0])
        #expect(jobs[1].anchors.map(\.image) == [.lastFrameOf(job: "sh010/s0p1"), .file(path: "/shots/refs/b.png")])
        #expect(jobs[1].anchors.map(\.keyframe) == [nil, 1])
        #expect(jobs[1].anchors.map(\.position).allSatisfy { $0 <= 240 })
        #expect(jobs[1].dependsOn == ["sh010/s0p1"])
    }

    @Test func aSegmentOnAnotherEngineSplitsTheRun() throws {
        let text = Self.sixteenKeyframes(engine: "luma/ray-3.2") + "\n    segments:\n      \"3\": { engine: interpolate }"
        let shot = try #require(try plan(text).shots.first)
        // 0 to 3.75 s is one 5 s generation; the interpolated gap stands alone; 4.5 s to 20 s
        // (15.5 s) needs 20 billed seconds, and of the covers that bill 20 the one with most generations wins.
        #expect(shot.segments.prefix(2).map(\.index) == [0, 3])
        #expect(shot.segments.prefix(2).map(\.endKeyframe) == [3, 4])
        #expect(shot.segments[1].engine == .interpolate)
        let rest = shot.segments.dropFirst(2)
        #expect(rest.first?.index == 4 && rest.last?.endKeyframe == 15)
        #expect(rest.flatMap(\.jobs).reduce(0) { $0 + ($1.durationBucket ?? 0) } == 20)
        #expect(rest.count == 4)   // e.g. 4.5-8.5, 8.5-12.5, 12.5-16, 16-20: four 5 s clips
        for (a, b) in zip(shot.segments, shot.segments.dropFirst()) { #expect(a.endKeyframe == b.index) }
    }

    @Test func planJSONListsAnchorsAndBuckets() throws {
        let plan = try plan(Self.sixteenKeyframes(engine: "luma/ray-3.2"))
        let object = try #require(try JSONSerialization.jsonObject(with: plan.jsonData()) as? [String: Any])
        let shots = try #require(object["shots"] as? [[String: Any]])
        let segments = try #require(shots[0]["segments"] as? [[String: Any]])
        let job = try #require((segments[0]["jobs"] as? [[String: Any]])?.first)
        #expect(job["duration_bucket"] as? Int == 10)
        let anchors = try #require(job["anchors"] as? [[String: Any]])
        #expect(anchors.count == 9)
        #expect(anchors[1]["keyframe"] as? Int == 1)
        #expect(anchors[1]["frame"] as? Int == 30)
        #expect(anchors[1]["position"] as? Int == 30)
        #expect((anchors[1]["image"] as? [String: Any])?["path"] as? String == "/shots/refs/b.png")
        #expect(segments[1]["end_keyframe"] as? Int == 15)
        let stitch = try #require(shots[0]["stitch"] as? [String: Any])
        let pieces = try #require(stitch["segment_jobs"] as? [[String: Any]])
        #expect(pieces.map { $0["end_position"] as? Int } == [240, 240])
    }
}

/// A shot delivered at other aspect ratios: the provider's reframe where the engine has one,
/// a local crop elsewhere, and a stitch per aspect.
@Suite struct ReframePlannerTests {
    static func shot(engine: String, extra: String = "") -> String {
        oneShot(duration: "4", settings: "    engine: \(engine)\n    resolution: 720p\n    outputs: [mp4, exr]\n    reframe: [\"9:16\", \"1:1\"]" + extra,
                keyframes: """
              - at: 0
                image: refs/a.png
                prompt: "a kite"
              - at: 4
                image: refs/b.png
        """)
    }

    @Test func rayReframesEachGenerationAndStitchesEachAspect() throws {
        let plan = try plan(Self.shot(engine: "luma/ray-3.2"))
        let shot = try #require(plan.shots.first)
        #expect(shot.reframes.map(\.aspect) == [.vertical, .square])
        let vertical = shot.reframes[0]
        #expect(vertical.jobs.map(\.key) == ["sh010/s0r9x16"])
        #expect(vertical.jobs[0].dependsOn == ["sh010/s0"] && vertical.jobs[0].reframe?.source == "sh010/s0")
        #expect(vertical.jobs[0].estimatedCredits == 30)      // the 720p 5 s SDR price
        #expect(vertical.stitch.key == "sh010/stitch_9x16")
        #expect(vertical.stitch.dependsOn == ["sh010/s0", "sh010/s0r9x16"])
        #expect(plan.estimatedCredits == 30 * 3)
        #expect(plan.jobs.count == 6)
        let json = String(decoding: plan.jsonData(), as: UTF8.self)
        #expect(json.contains("\"reframe_job\" : \"sh010/s0r9x16\"") && json.contains("\"tag\" : \"9x16\""), "\(json)")
        // A stitch at 9:16 at 720p is 720x1280 and delivers video only.
        let document = vertical.stitch.specJSON(shot: shot)
        #expect(document.contains("\"width\":720") && document.contains("\"height\":1280") && document.contains("\"outputs\":[\"mp4\"]"), "\(document)")
    }

    @Test func otherEnginesAndLocalReframesCropForFree() throws {
        for text in [Self.shot(engine: "interpolate"), Self.shot(engine: "luma/ray-3.2", extra: "\n    reframe_engine: local")] {
            let shot = try #require(try plan(text).shots.first)
            #expect(shot.reframes.allSatisfy { $0.jobs.isEmpty && $0.estimatedCredits == 0 })
            #expect(shot.reframes.map(\.stitch.key) == ["sh010/stitch_9x16", "sh010/stitch_1x1"])
        }
    }

    @Test func badReframesAreRefused() {
        let own = issues(Self.shot(engine: "interpolate").replacingOccurrences(of: "[\"9:16\", \"1:1\"]", with: "[\"16:9\"]"))
        #expect(own.first?.path == "shots[0].reframe" && own.first?.message.contains("the shot's own aspect") == true, "\(own)")
        let twice = issues(Self.shot(engine: "interpolate").replacingOccurrences(of: "[\"9:16\", \"1:1\"]", with: "[\"1:1\", \"1:1\"]"))
        #expect(twice.first?.path == "shots[0].reframe[1]", "\(twice)")
        let position = issues(Self.shot(engine: "interpolate", extra: "\n    reframe_position: { x_norm: 0, y_norm: 0, w_norm: 3, h_norm: 1 }"))
        #expect(position.first?.path == "shots[0].reframe_position.w_norm", "\(position)")
        let missing = issues(Self.shot(engine: "interpolate", extra: "\n    reframe_position: { x_norm: 0 }"))
        #expect(missing.contains { $0.path == "shots[0].reframe_position.h_norm" }, "\(missing)")
        let engine = issues(Self.shot(engine: "interpolate", extra: "\n    reframe_engine: provider"))
        #expect(engine.first?.path == "shots[0].reframe_engine", "\(engine)")
    }
}
