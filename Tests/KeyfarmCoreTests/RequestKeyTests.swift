import Foundation
import KeyfarmCore
import Testing

/// Request keys: equal for an unchanged request, different for any change to what an engine
/// is asked, and passed on to whatever continues from a changed generation.
@Suite struct RequestKeyTests {
    /// Four keyframes on a two-frame engine; the third has no image, so segment 2 continues
    /// from segment 1's last frame.
    static func list(engine: String = "luma/ray-2", prompt1: String = "walks in", priority: Int = 50,
                     extra: String = "") -> String {
        """
        version: 1
        name: keys
        defaults:
          engine: \(engine)
          priority: \(priority)
        \(extra)
        shots:
          - id: sh010
            duration: 12
            keyframes:
              - { at: 0, image: refs/a.png, prompt: "wide" }
              - { at: 4, image: refs/b.png, prompt: "\(prompt1)" }
              - { at: 8, prompt: "turns" }
              - { at: 12, image: refs/a.png }
          - id: sh020
            duration: 4
            keyframes:
              - { at: 0, image: refs/a.png, prompt: "close" }
              - { at: 4, image: refs/b.png }
        """
    }

    static func keys(_ plan: Plan) -> [String: String] {
        Dictionary(uniqueKeysWithValues: plan.jobs.map { ($0.key, $0.requestKey!) })
    }

    @Test func everyJobHasAKeyAndTheSameListGivesTheSameKeys() throws {
        let a = try plan(Self.list()), b = try plan(Self.list())
        #expect(a.jobs.allSatisfy { $0.requestKey?.count == 64 })
        #expect(Self.keys(a) == Self.keys(b))
        #expect(Set(Self.keys(a).values).count == a.jobs.count)
        // The spec a worker gets names its key.
        let spec = a.jobs[0].specJSON(shot: a.shots[0])
        #expect(spec.contains("\"request_key\":\"\(a.jobs[0].requestKey!)\""))
    }

    @Test func anEditedPromptChangesItsSpanWhatContinuesFromItAndTheStitchOnly() throws {
        let before = Self.keys(try plan(Self.list()))
        let after = Self.keys(try plan(Self.list(prompt1: "runs in")))
        let changed = Set(before.keys.filter { before[$0] != after[$0] })
        // s1 asks another prompt; s2 starts from s1's last frame; the stitch takes both.
        #expect(changed == ["sh010/s1", "sh010/s2", "sh010/stitch"])
    }

    @Test func whatDoesNotChangeThePictureLeavesKeysAlone() throws {
        #expect(Self.keys(try plan(Self.list())) == Self.keys(try plan(Self.list(priority: 90))))
    }

    @Test func anImagesContentNotItsNameIsTheKey() throws {
        var list = try decode(Self.list())
        let path = "/shots/refs/b.png"
        for s in list.shots.indices { list.shots[s].imageHashes = ["/shots/refs/a.png": "aa", path: "bb"] }
        let before = Self.keys(Planner().plan(list))
        for s in list.shots.indices { list.shots[s].imageHashes[path] = "cc" }
        let after = Self.keys(Planner().plan(list))
        let changed = Set(before.keys.filter { before[$0] != after[$0] })
        // b.png ends s0 and starts s1 of sh010, and ends sh020's only segment.
        #expect(changed == ["sh010/s0", "sh010/s1", "sh010/s2", "sh010/stitch", "sh020/s0", "sh020/stitch"])
    }

    @Test func resolutionEngineDeliverablesAndTakesAreInTheKey() throws {
        let base = Self.keys(try plan(Self.list()))
        let resolution = Self.keys(try plan(Self.list(extra: "  resolution: 720p")))
        #expect(base.keys.allSatisfy { base[$0] != resolution[$0] })
        let engine = Self.keys(try plan(Self.list(engine: "luma/ray-flash-2")))
        #expect(base["sh010/s0"] != engine["sh010/s0"])
        // Another deliverable changes the stitch, not the generations.
        let outputs = Self.keys(try plan(Self.list(extra: "  outputs: [mp4, prores]")))
        #expect(Set(base.keys.filter { base[$0] != outputs[$0] }) == ["sh010/stitch", "sh020/stitch"])
        // A second take is a new request even when it asks the same.
        var planned = try plan(Self.list())
        var job = planned.shots[1].segments[0].jobs[0]
        job.take = 2
        planned.shots[1].segments[0].jobs[0] = job
        #expect(RequestKeyProbe.key(of: job, in: planned.shots[1]) != base["sh020/s0"])
    }

    @Test func multiKeyframeAnchorsAndReframesFollowTheirSources() throws {
        let ray = { (prompt: String) in
            """
            version: 1
            name: ray
            defaults: { engine: luma/ray-3.2, resolution: 720p, reframe: ["9:16"] }
            shots:
              - id: sh010
                duration: 10
                keyframes:
                  - { at: 0, image: refs/a.png, prompt: "wide" }
                  - { at: 5, image: refs/b.png, prompt: "\(prompt)" }
                  - { at: 10, image: refs/a.png }
            """
        }
        let before = Self.keys(try plan(ray("closer"))), after = Self.keys(try plan(ray("further")))
        // Two 5 s generations bill as one 10 s one and render in parallel: the prompt of keyframe
        // 1 is the second's; its reframe and both stitches follow it.
        #expect(Set(before.keys.filter { before[$0] != after[$0] })
                == ["sh010/s1", "sh010/s1r9x16", "sh010/stitch", "sh010/stitch_9x16"])
        #expect(before.count == 6)
    }
}

/// The key of one job as the planner computes it (for a job changed after planning).
enum RequestKeyProbe {
    static func key(of job: PlannedJob, in shot: PlannedShot) -> String {
        var shot = shot
        shot.segments[0].jobs[0] = job
        shot.recomputeRequestKeys()
        return shot.segments[0].jobs[0].requestKey!
    }
}
