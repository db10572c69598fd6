import Foundation
import KeyfarmCore
import Testing

/// Drafts: provider segments at their engine's draft tier, a 360p SDR MP4 under `<shot>/draft/`,
/// the same keyframes, prompts and spans as the final.
@Suite struct DraftPlanTests {
    static let list = """
        version: 1
        name: drafts
        defaults: { resolution: 1080p, draft: true }
        shots:
          - id: sh010
            duration: 10
            engine: luma/ray-3.2
            hdr: true
            outputs: [mp4, exr, hdr10]
            reframe: ["9:16"]
            keyframes:
              - { at: 0, image: refs/a.png, prompt: "wide" }
              - { at: 5, image: refs/b.png, prompt: "closer" }
              - { at: 10, image: refs/a.png }
          - id: sh020
            duration: 4
            engine: luma/ray-2
            keyframes:
              - { at: 0, image: refs/a.png, prompt: "close" }
              - { at: 4, image: refs/b.png }
          - id: sh030
            duration: 1
            keyframes:
              - { at: 0, image: refs/a.png }
              - { at: 1, image: refs/b.png }
        """

    @Test func aDraftRendersAtDraftTiersWithTheFinalsSpans() throws {
        let draft = try plan(Self.list)
        let final = try plan(Self.list.replacingOccurrences(of: ", draft: true", with: ""))
        // The same spans and anchors; ray-3.2 at 360p SDR (no EXR export, no reframe), ray-2 at
        // its lowest, 540p; interpolation at 360p.
        #expect(draft.shots[0].segments.map(\.endKeyframe) == final.shots[0].segments.map(\.endKeyframe))
        #expect(draft.shots[0].jobs.first?.anchors == final.shots[0].jobs.first?.anchors)
        let ray = draft.shots[0].segments[0].jobs[0]
        #expect((ray.resolution ?? draft.shots[0].shot.resolution) == .p360 && !ray.hdr && !ray.exrExport)
        #expect(draft.shots[0].segments.flatMap(\.jobs).map(\.estimatedCredits) == [8, 8])
        #expect(draft.shots[0].reframes.isEmpty && final.shots[0].reframes.count == 1)
        #expect(draft.shots[1].segments[0].jobs[0].resolution == .p540)
        #expect(draft.shots[1].segments[0].jobs[0].estimatedCredits == 40)
        #expect(draft.shots[2].segments[0].jobs[0].resolution == nil)
        #expect(draft.shots.allSatisfy { $0.shot.resolution == .p360 && $0.shot.outputs == [.mp4] && $0.shot.draft })
        // The final: 1080p HDR with the EXR export at x3, a provider reframe.
        #expect(final.shots[0].segments.flatMap(\.jobs).map(\.estimatedCredits) == [360, 360])
        // Specs: a ray-3.2 draft job asks 360p; the stitch writes a 640x360 MP4 under draft/.
        let spec = try JSONSerialization.jsonObject(with: Data(ray.specJSON(shot: draft.shots[0]).utf8)) as! [String: Any]
        #expect(spec["resolution"] as? String == "360p" && spec["height"] as? Int == 360 && spec["draft"] as? Bool == true)
        let stitch = try JSONSerialization.jsonObject(with: Data(draft.shots[0].stitch.specJSON(shot: draft.shots[0]).utf8)) as! [String: Any]
        #expect(stitch["draft"] as? Bool == true && stitch["width"] as? Int == 640 && stitch["outputs"] as? [String] == ["mp4"])
        #expect(stitch["hdr"] == nil)
        // A draft and its final never share a request.
        let draftKeys = Set(draft.jobs.compactMap(\.requestKey)), finalKeys = Set(final.jobs.compactMap(\.requestKey))
        #expect(draftKeys.isDisjoint(with: finalKeys))
        #expect(draft.estimatedCredits == 16 + 40)
    }

    @Test func threeSixtyIsADraftTierNotAResolution() {
        let found = issues(Self.list.replacingOccurrences(of: "resolution: 1080p", with: "resolution: 360p"))
        #expect(found.map(\.description).contains { $0.contains("defaults.resolution: 360p is a draft tier") }, "\(found)")
        #expect(issues(Self.list.replacingOccurrences(of: "draft: true", with: "draft: maybe")).count == 1)
    }
}
