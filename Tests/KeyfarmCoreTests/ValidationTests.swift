import Testing
@testable import KeyfarmCore

@Suite struct ValidationTests {
    static let valid = """
    version: 1
    name: acme-spot
    shots:
      - id: sh010
        duration: 12.5
        keyframes:
          - at: 0
            image: refs/a.png
          - at: 12.5
            image: refs/b.png
    """

    /// The one issue a text produces, failing the test if there is not exactly one.
    func only(_ text: String, files: [String: ImageFileKind] = standardFiles) throws -> ShotListIssue {
        let found = issues(text, files: files)
        #expect(found.count == 1, "expected one issue, got \(found.map(\.description))")
        return try #require(found.first)
    }

    @Test func aValidListHasNoIssuesAndInheritsDefaults() throws {
        let list = try decode(Self.valid)
        let shot = try #require(list.shots.first)
        #expect(list.project == "default")
        #expect(list.budget == nil)
        #expect(shot.fps.description == "24")
        #expect(shot.resolution == .p1080)
        #expect(shot.aspect == .widescreen)
        #expect(shot.engine == .interpolate)
        #expect(shot.outputs == [.mp4])
        #expect(shot.seam == 0 && shot.priority == 50 && shot.maxAttempts == 3)
        #expect(shot.keyframes[0].image == .file(given: "refs/a.png", path: "/shots/refs/a.png"))
    }

    @Test func shotsOverrideDefaults() throws {
        let text = Self.valid.replacingOccurrences(of: "shots:\n", with: """
        defaults:
          fps: 30
          resolution: 720p
          outputs: [mp4, exr]
          priority: 10
        shots:

        """).replacingOccurrences(of: "    duration: 12.5\n", with: "    duration: 12.5\n    fps: \"30000/1001\"\n    outputs: [prores]\n")
        let shot = try #require(try decode(text).shots.first)
        #expect(shot.fps.description == "30000/1001")
        #expect(shot.resolution == .p720)
        #expect(shot.outputs == [.prores])
        #expect(shot.priority == 10)
    }

    @Test func keyframeNotAfterThePreviousOne() throws {
        let text = oneShot(duration: "10", keyframes: """
              - at: 0
                image: refs/a.png
              - at: 7.5
                image: refs/a.png
              - at: 7.2
                image: refs/b.png
              - at: 10
                image: refs/b.png
        """)
        let issue = try only(text)
        #expect(issue.path == "shots[0].keyframes[2].at")
        #expect(issue.message == "7.2 is not after keyframes[1].at (7.5); keyframe times must strictly increase")
        #expect(issue.description.hasPrefix("list.yaml: shots[0].keyframes[2].at: 7.2 is not after keyframes[1].at (7.5)"))
        #expect(issue.line != nil)
    }

    @Test func aBadImageDoesNotHideATimingError() {
        let text = oneShot(duration: "4", keyframes: """
              - at: 0
                image: refs/a.png
              - at: 2
                image: refs/missing.png
              - at: 1.5
                image: refs/b.png
              - at: 4
                image: refs/b.png
        """)
        #expect(issues(text).map(\.path) == ["shots[0].keyframes[1].image", "shots[0].keyframes[2].at"])
    }

    @Test func tooManyKeyframes() throws {
        let lines = (0..<17).map { "      - at: \($0)\n        image: refs/a.png" }.joined(separator: "\n")
        let issue = try only(oneShot(duration: "16", keyframes: lines))
        #expect(issue.path == "shots[0].keyframes")
        #expect(issue.message.hasPrefix("17 keyframes, at most 16"))
    }

    @Test func tooFewKeyframes() throws {
        let issue = try only(oneShot(duration: "0", keyframes: "      - at: 0\n        image: refs/a.png")
            .replacingOccurrences(of: "duration: 0", with: "duration: 5"))
        #expect(issue.path == "shots[0].keyframes")
        #expect(issue.message.hasPrefix("1 keyframe, at least 2"))
    }

    @Test func durationOverTwentySeconds() throws {
        let text = oneShot(duration: "24", keyframes: "      - at: 0\n        image: refs/a.png\n      - at: 24\n        image: refs/b.png")
        let issue = try only(text)
        #expect(issue.description.hasPrefix("list.yaml: shots[0].duration: 24 s, at most 20 s"))
    }

    @Test func missingImageFile() throws {
        let text = Self.valid.replacingOccurrences(of: "refs/a.png", with: "refs/nope.png")
        let issue = try only(text)
        #expect(issue.path == "shots[0].keyframes[0].image")
        #expect(issue.message == "refs/nope.png: no such file")
    }

    @Test func imagesAreJudgedByTheirHeaderNotTheirName() throws {
        let jpeg = try only(Self.valid.replacingOccurrences(of: "refs/a.png", with: "refs/photo.jpg"))
        #expect(jpeg.message.contains("not a PNG or EXR image"))
        let folder = try only(Self.valid.replacingOccurrences(of: "refs/a.png", with: "refs"))
        #expect(folder.message.contains("is a directory"))
        // A PNG named .exr is still a PNG: the header decides.
        var files = standardFiles
        files["/shots/refs/misnamed.exr"] = .png
        #expect(issues(Self.valid.replacingOccurrences(of: "refs/a.png", with: "refs/misnamed.exr"), files: files).isEmpty)
        let http = try only(Self.valid.replacingOccurrences(of: "refs/a.png", with: "http://example.com/a.png"))
        #expect(http.message.contains("plain http is not allowed"))
    }

    @Test func twoKeyframesOnOneFrame() throws {
        let text = oneShot(duration: "10", keyframes: """
              - at: 0
                image: refs/a.png
              - at: 4
                image: refs/a.png
              - at: 4.01
                image: refs/b.png
              - at: 10
                image: refs/b.png
        """)
        let issue = try only(text)
        #expect(issue.path == "shots[0].keyframes[1..2]")
        #expect(issue.message.hasPrefix("both land on frame 96 at 24 fps"))
    }

    @Test func unknownEngineListsTheKnownOnes() throws {
        let text = Self.valid.replacingOccurrences(of: "shots:\n", with: "defaults:\n  engine: luma/ray-9\nshots:\n")
        let issue = try only(text)
        #expect(issue.path == "defaults.engine")
        #expect(issue.message.hasPrefix("\"luma/ray-9\" is not a known engine (known: interpolate, luma/ray-2"))
    }

    @Test func brokenYAMLGivesLineAndColumn() throws {
        let text = "version: 1\nname: x\nshots:\n  - id: a\n    duration: 5\n    keyframes: x: y\n"
        let issue = try only(text)
        #expect(issue.path == "")
        #expect(issue.line == 6)
        #expect(issue.description.hasPrefix("list.yaml: line 6, column"))
        #expect(issue.message.contains("mapping values are not allowed"))
    }

    @Test func unknownKeysAreErrorsWithASuggestion() throws {
        let text = Self.valid.replacingOccurrences(of: "    duration: 12.5\n", with: "    duration: 12.5\n    resoluton: 720p\n")
        let issue = try only(text)
        #expect(issue.path == "shots[0].resoluton")
        #expect(issue.message.hasPrefix("unknown key (did you mean \"resolution\"?)"))
    }

    @Test func duplicateKeysAreErrors() throws {
        let text = Self.valid.replacingOccurrences(of: "name: acme-spot\n", with: "name: acme-spot\nname: other\n")
        let issue = try only(text)
        #expect(issue.message.hasPrefix("duplicate key \"name\""))
        #expect(issue.line != nil)
    }

    @Test func everyErrorIsReportedAtOnce() {
        let text = """
        version: 2
        name: Bad Name
        defaults:
          fps: 23.976
          resolution: 4k
          aspect: "2:1"
          outputs: [mp4, gif]
          seam: 20
          priority: 101
          max_attempts: 0
        shots:
          - id: sh010
            duration: 24
            keyframes:
              - at: 0
                image: refs/missing.png
              - at: 24
          - id: sh010
            duration: abc
            keyframes: []
          - duration: 5
            keyframes:
              - at: 0.5
                image: refs/a.png
              - at: 4
                image: refs/b.png
        """
        let paths = issues(text).map(\.path)
        for expected in ["version", "name", "defaults.fps", "defaults.resolution", "defaults.aspect",
                         "defaults.outputs[1]", "defaults.seam", "defaults.priority", "defaults.max_attempts",
                         "shots[0].duration", "shots[0].keyframes[0].image", "shots[1].id", "shots[1].duration",
                         "shots[1].keyframes", "shots[2].id", "shots[2].keyframes[0].at", "shots[2].keyframes[1].at"] {
            #expect(paths.contains(expected), "missing \(expected) in \(paths)")
        }
        let fps = issues(text).first { $0.path == "defaults.fps" }
        #expect(fps?.message.contains("write \"24000/1001\" for 23.976") == true)
    }

    @Test func segmentOverridesMustNameARealSegment() throws {
        let text = Self.valid + "\n    segments:\n      \"3\": { engine: luma/ray-2 }\n"
        let issue = try only(text)
        #expect(issue.path == "shots[0].segments[\"3\"]")
        #expect(issue.message.hasPrefix("no such segment; this shot has 1 segment"))
        let badKey = try only(Self.valid + "\n    segments:\n      \"0\": { engin: luma/ray-2 }\n")
        #expect(badKey.path == "shots[0].segments[\"0\"].engin")
    }

    @Test func textToVideoOnlyWithAProviderAndAPrompt() throws {
        let noImage = Self.valid.replacingOccurrences(of: "      - at: 0\n        image: refs/a.png\n", with: "      - at: 0\n")
        let interpolate = try only(noImage)
        #expect(interpolate.path == "shots[0].keyframes[0].image")
        #expect(interpolate.message.contains("only a provider engine can start from a prompt alone"))
        let provider = noImage.replacingOccurrences(of: "shots:\n", with: "defaults:\n  engine: luma/ray-2\nshots:\n")
        let noPrompt = try only(provider)
        #expect(noPrompt.path == "shots[0].keyframes[0]")
        let withPrompt = provider.replacingOccurrences(of: "      - at: 0\n", with: "      - at: 0\n        prompt: a quiet street\n")
        #expect(issues(withPrompt).isEmpty)
    }

    @Test func seamMustFitTheSegments() throws {
        let text = oneShot(duration: "1", settings: "    seam: 12", keyframes: """
              - at: 0
                image: refs/a.png
              - at: 1
                image: refs/b.png
        """)
        let issue = try only(text)
        #expect(issue.path == "shots[0].seam")
    }

    @Test func jsonIsAcceptedToo() throws {
        let json = """
        {"version": 1, "name": "from-json", "shots": [{"id": "a", "duration": 5,
          "keyframes": [{"at": 0, "image": "refs/a.png"}, {"at": 5, "image": "refs/b.png"}]}]}
        """
        #expect(try decode(json).name == "from-json")
    }

    @Test func anEmptyFileOrANonMappingIsExplained() {
        #expect(issues("").first?.message.contains("empty") == true)
        #expect(issues("- a\n- b\n").first?.message.contains("must be a mapping") == true)
    }
}

/// HDR in a shot list: only engines that render HDR take it, hdr10 needs it, and the EXR
/// colour space is one of three.
@Suite struct HDRValidationTests {
    static func shot(_ settings: String, segments: String = "") -> String {
        oneShot(duration: "4", settings: settings, keyframes: """
              - at: 0
                image: refs/a.png
                prompt: "dawn"
              - at: 2
                image: refs/b.png
              - at: 4
                image: refs/a.png
        """) + segments
    }

    @Test func hdrOnlyWithEnginesThatRenderIt() throws {
        let ok = try plan(Self.shot("    engine: luma/ray-3.2\n    hdr: true\n    outputs: [exr, hdr10]"))
        let job = try #require(ok.shots.first?.segments.first?.jobs.first)
        #expect(job.hdr && job.exrExport)
        #expect(job.estimatedCredits == 3 * 120)   // 1080p, one 5 s block, HDR with the EXR export
        #expect(ok.shots[0].shot.exrColorspaceResolved == .aces2065)
        let mp4Only = try plan(Self.shot("    engine: luma/ray-3.2\n    hdr: true"))
        #expect(mp4Only.jobs[0].hdr && !mp4Only.jobs[0].exrExport && mp4Only.jobs[0].estimatedCredits == 2 * 120)

        let lowRes = issues(Self.shot("    engine: luma/ray-3.2\n    hdr: true\n    resolution: 540p"))
        #expect(lowRes.first?.path == "shots[0].resolution", "\(lowRes)")
        #expect(lowRes.first?.message == "luma/ray-3.2 renders HDR at 720p and 1080p only; 540p is SDR only")
        let refused = issues(Self.shot("    engine: luma/ray-2\n    hdr: true"))
        #expect(refused.count == 1 && refused.first?.path == "shots[0].hdr", "\(refused)")
        #expect(refused.first?.message == "luma/ray-2 cannot render HDR; engines that can: luma/ray-3.2, interpolate")
        // A segment on another engine counts too.
        let segment = issues(Self.shot("    engine: luma/ray-3.2\n    hdr: true",
                                       segments: "\n    segments:\n      \"1\": { engine: fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video }"))
        #expect(segment.first?.message.hasPrefix("fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video cannot render HDR") == true, "\(segment)")
        // Local interpolation renders HDR (EXR in, EXR out), at no cost and with no export to ask for.
        let local = try plan(Self.shot("    engine: luma/ray-3.2\n    hdr: true\n    outputs: [exr]",
                                       segments: "\n    segments:\n      \"1\": { engine: interpolate }"))
        #expect(local.jobs[1].engine == .interpolate && local.jobs[1].hdr && !local.jobs[1].exrExport)
    }

    @Test func hdr10NeedsHDRAndTheColourSpaceIsOneOfThree() throws {
        let noHDR = issues(Self.shot("    engine: luma/ray-3.2\n    outputs: [mp4, hdr10]"))
        #expect(noHDR.first?.path == "shots[0].outputs" && noHDR.first?.message.hasPrefix("hdr10 needs hdr: true") == true, "\(noHDR)")
        let colourspace = issues(Self.shot("    exr_colorspace: srgb"))
        #expect(colourspace.first?.path == "shots[0].exr_colorspace")
        #expect(colourspace.first?.message == "\"srgb\" is not an EXR colour space; allowed: aces2065-1, acescg, lin_rec709")
        let flag = issues(Self.shot("    hdr: yes"))
        #expect(flag.first?.path == "shots[0].hdr" && flag.first?.message == "yes is not true or false", "\(flag)")
        let sdr = try plan(Self.shot("    exr_colorspace: acescg\n    outputs: [exr]"))
        #expect(sdr.shots[0].shot.exrColorspaceResolved == .acescg)
        #expect(String(decoding: sdr.jsonData(), as: UTF8.self).contains("\"exr_colorspace\" : \"acescg\""))
    }
}
