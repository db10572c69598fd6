import KeyfarmCore
import Testing

/// The model input table: which segments it refuses, and the values it asks models for.
@Suite struct ModelInputTableTests {
    static let list = oneShot(duration: "8", settings: "    engine: fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video", keyframes: """
              - { at: 0, image: refs/a.png, prompt: "the ball rolls" }
              - { at: 4 }
              - { at: 8, image: refs/b.png }
        """) + """

            segments:
              "1": { engine: wavespeed/someone/new-i2v }
        """

    /// Segment 0 ends on a keyframe without an image (continuity), so only segment 1, on an
    /// unknown WaveSpeed model, is refused, at its end keyframe's image and naming its override.
    @Test func onlyASegmentEndingOnAnImageNeedsAnEndField() throws {
        let list = try decode(Self.list)
        let found = list.modelInputIssues(.builtIn)
        #expect(found.count == 1)
        #expect(found.first?.path == "shots[0].keyframes[2].image")
        #expect(found.first?.message.contains("segment 1 of shot sh010 ends on this image") == true)
        #expect(found.first?.message.contains(#"wavespeed/someone/new-i2v (shots[0].segments["1"].engine) is unknown"#) == true,
                "\(found.first?.message ?? "")")
        // An operator's mapping with an end field makes it plannable, and its jobs carry it.
        let mapped = ModelInputTable(operatorEntries: [
            "wavespeed/someone/new-i2v": ModelInputs(startField: "image", endField: "tail", duration: .integer),
        ])
        #expect(list.modelInputIssues(mapped).isEmpty)
        let jobs = Planner(models: mapped).plan(list).jobs
        #expect(jobs.first { $0.key == "sh010/s1" }?.modelInputs?.endField == "tail")
        #expect(jobs.first { $0.key == "sh010/s0" }?.modelInputs?.endField == "tail_image_url")
        #expect(jobs.first { $0.key == "sh010/stitch" }?.modelInputs == nil)
    }

    @Test func resolutionsAndSizesAreTheNearestTheModelLists() {
        let waveSpeed = ModelInputs(startField: "image", endField: nil, duration: .integer, resolutionField: .resolution,
                                    resolutions: ["480p", "720p", "1080p"])
        #expect(waveSpeed.resolutionValue(resolution: "540p", aspect: "16:9") == "720p")
        #expect(waveSpeed.resolutionValue(resolution: "1080p", aspect: "16:9") == "1080p")
        let lumaOnly720 = ModelInputs(startField: "image", endField: nil, duration: .integer, resolutionField: .resolution,
                                      resolutions: ["540p", "720p"])
        #expect(lumaOnly720.resolutionValue(resolution: "1080p", aspect: "16:9") == "720p", "the sharpest it has")
        let sized = ModelInputs(startField: "image", endField: nil, duration: .integer, resolutionField: .size,
                                resolutions: ["1280*720", "720*1280"])
        #expect(sized.resolutionValue(resolution: "1080p", aspect: "16:9") == "1280*720")
        #expect(sized.resolutionValue(resolution: "540p", aspect: "9:16") == "720*1280")
        let anySize = ModelInputs(startField: "image", endField: nil, duration: .luma, resolutionField: .size)
        #expect(anySize.resolutionValue(resolution: "720p", aspect: "16:9") == "1280*720")
        #expect(anySize.durationValue(seconds: 9) == .text("9s"))
        #expect(ModelInputs(startField: nil, endField: nil, duration: .string).resolutionValue(resolution: "720p", aspect: "1:1") == nil)
    }
}
