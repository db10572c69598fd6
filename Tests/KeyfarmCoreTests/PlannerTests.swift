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
