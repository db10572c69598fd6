import Foundation
import KeyfarmCore
import Testing

/// Job specs: what the planner writes is what every engine reads, in the JSON the store has
/// always kept; a spec that cannot be read names the field.
@Suite struct JobSpecTests {
    /// Specs as the planner wrote them before they were typed (`DraftPlanTests.list`, the final,
    /// with image hashes and the first segment retaken): an HDR ray-3.2 generation with its
    /// anchors, its stitch, a provider reframe, the stitch at 9:16, and an interpolated segment.
    static let stored: [(key: String, json: String)] = [
        ("sh010/s0", #"{"anchors":[{"frame":0,"image":{"kind":"file","path":"/shots/refs/a.png","sha256":"aa11"},"keyframe":0,"position":0},{"frame":120,"image":{"kind":"file","path":"/shots/refs/b.png","sha256":"bb22"},"keyframe":1,"position":120}],"aspect":"16:9","depends_on":[],"duration_bucket":5,"end_frame":120,"end_image":{"kind":"file","path":"/shots/refs/b.png","sha256":"bb22"},"end_position":120,"engine":"luma/ray-3.2","estimated_credits":360,"exr_export":true,"fps_rational":"24","frames":121,"hdr":true,"height":1080,"key":"sh010/s0","kind":"segment","max_attempts":3,"part":1,"parts":1,"price_known":true,"priority":50,"prompt":"wide","request_key":"70b6d886f6885a624d901ff23bee07dac0c24cc7765fa1615d1cfd1834e69a8f","resolution":"1080p","seed":424242,"segment_index":0,"shot":"sh010","start_frame":0,"start_image":{"kind":"file","path":"/shots/refs/a.png","sha256":"aa11"},"take":2,"width":1920}"#),
        ("sh010/stitch", #"{"aspect":"16:9","depends_on":["sh010/s0","sh010/s1"],"end_frame":239,"estimated_credits":0,"exr_colorspace":"aces2065-1","fps_rational":"24","frames":240,"hdr":true,"height":1080,"key":"sh010/stitch","kind":"stitch","max_attempts":3,"outputs":["mp4","exr","hdr10"],"part":1,"parts":1,"price_known":true,"priority":50,"request_key":"afc05f390697c4299787c3d5f88e529ffb43fe0b357774642e3f2d6c67497560","resolution":"1080p","seam":0,"segment_jobs":[{"end_frame":120,"end_position":120,"engine":"luma/ray-3.2","key":"sh010/s0","part":1,"parts":1,"segment_index":0,"start_frame":0,"take":2},{"end_frame":239,"end_position":120,"engine":"luma/ray-3.2","key":"sh010/s1","part":1,"parts":1,"segment_index":1,"start_frame":120,"take":1}],"shot":"sh010","start_frame":0,"width":1920}"#),
        ("sh010/s0r9x16", #"{"anchors":[],"aspect":"9:16","depends_on":["sh010/s0"],"duration_bucket":5,"end_frame":120,"end_position":120,"engine":"luma/ray-3.2","estimated_credits":120,"fps_rational":"24","frames":121,"height":1920,"key":"sh010/s0r9x16","kind":"segment","max_attempts":3,"part":1,"parts":1,"price_known":true,"priority":50,"prompt":"wide","reframe":{"aspect":"9:16","of":"sh010/s0","position":"center","tag":"9x16"},"request_key":"632b1cf664443b0824aa9558b19bf623e7b66229a307c03a40d9b7173989cc8c","resolution":"1080p","segment_index":0,"shot":"sh010","start_frame":0,"width":1080}"#),
        ("sh010/stitch_9x16", #"{"aspect":"9:16","depends_on":["sh010/s0","sh010/s1","sh010/s0r9x16","sh010/s1r9x16"],"end_frame":239,"estimated_credits":0,"exr_colorspace":"aces2065-1","fps_rational":"24","frames":240,"hdr":true,"height":1920,"key":"sh010/stitch_9x16","kind":"stitch","max_attempts":3,"outputs":["mp4"],"part":1,"parts":1,"price_known":true,"priority":50,"reframe":{"aspect":"9:16","position":"center","tag":"9x16"},"request_key":"a1deb531b1508a7e2744b766b281d86cf5fa4d2259ebd205e5d17f83c9486370","resolution":"1080p","seam":0,"segment_jobs":[{"end_frame":120,"end_position":120,"engine":"luma/ray-3.2","key":"sh010/s0","part":1,"parts":1,"reframe_job":"sh010/s0r9x16","segment_index":0,"start_frame":0,"take":2},{"end_frame":239,"end_position":120,"engine":"luma/ray-3.2","key":"sh010/s1","part":1,"parts":1,"reframe_job":"sh010/s1r9x16","segment_index":1,"start_frame":120,"take":1}],"shot":"sh010","start_frame":0,"width":1080}"#),
        ("sh030/s0", #"{"aspect":"16:9","depends_on":[],"end_frame":23,"end_image":{"kind":"file","path":"/shots/refs/b.png","sha256":"bb22"},"engine":"interpolate","estimated_credits":0,"fps_rational":"24","frames":24,"height":1080,"key":"sh030/s0","kind":"segment","max_attempts":3,"part":1,"parts":1,"price_known":true,"priority":50,"request_key":"c7d1b4f25810e605c2762c69ff1922884c2bfc946327d8fdc67be5fa44401a39","resolution":"1080p","segment_index":0,"shot":"sh030","start_frame":0,"start_image":{"kind":"file","path":"/shots/refs/a.png","sha256":"aa11"},"width":1920}"#),
    ]

    /// The plan those specs came from, planned now.
    static func plannedSpecs() throws -> [String: String] {
        var list = try decode(DraftPlanTests.list.replacingOccurrences(of: ", draft: true", with: ""))
        for s in list.shots.indices { list.shots[s].imageHashes = ["/shots/refs/a.png": "aa11", "/shots/refs/b.png": "bb22"] }
        var plan = Planner().plan(list)
        plan.shots[0].segments[0].jobs[0].take = 2
        plan.shots[0].segments[0].jobs[0].seed = 424242
        plan.shots[0].recomputeRequestKeys()
        return Dictionary(uniqueKeysWithValues: plan.shots.flatMap { shot in shot.jobs.map { ($0.key, $0.specJSON(shot: shot)) } })
    }

    /// The PROTOCOL.md example as a worker gets it: PostgreSQL's `jsonb` spacing and key order,
    /// with what the store adds (`inputs`, `provider_files`, `reuse`).
    static let dispatched = #"""
        {"key": "sh010/s1", "kind": "segment", "part": 1, "shot": "sh010", "parts": 1, "width": 960, "aspect": "16:9",
         "engine": "luma/ray-2", "frames": 49, "height": 540, "inputs": {"sh010/s0": [{"path": "p/l/sh010/segments/sh010_s0/attempt-1/video.mp4",
         "bytes": 2048, "sha256": "ab12", "media_type": "video/mp4"}, {"path": "p/l/sh010/segments/sh010_s0/attempt-1/last_frame.png",
         "bytes": 512, "sha256": "cd34", "media_type": "image/png", "storage_root": "/srv/farm"}]}, "prompt": "a beach ball rolls",
         "end_frame": 96, "priority": 50, "depends_on": ["sh010/s0"], "end_image": {"kind": "file", "path": "/srv/shots/refs/sh010_b.png"},
         "price_known": true, "resolution": "540p", "start_frame": 48, "start_image": {"job": "sh010/s0", "kind": "last_frame_of"},
         "fps_rational": "24", "max_attempts": 3, "segment_index": 1, "duration_bucket": 5, "provider_files": {"ef56": "file-9"},
         "estimated_credits": 40,
         "reuse": {"attempt": 1, "job_id": 9, "job_key": "sh010/s1", "revision": 2, "shot_list": "spot", "artifacts": [{"path": "p/spot/x.mp4",
          "bytes": 9, "sha256": "ee", "frames": 49, "media_type": "video/mp4"}], "attempt_id": 41}}
        """#

    @Test func theSpecsOfTodaysPlannerDecodeAndAreWrittenByteForByte() throws {
        let planned = try Self.plannedSpecs()
        for (key, json) in Self.stored {
            #expect(planned[key] == json, "\(key)")
            let spec = try JobSpec(json: json)
            #expect(spec.json == json, "\(key)")
        }
        guard case .segment(let ray) = try JobSpec(json: Self.stored[0].json) else { Issue.record("not a segment"); return }
        #expect(ray.engine == .lumaRay32 && ray.hdr && ray.exrExport && ray.take == 2 && ray.seed == 424242)
        #expect(ray.anchors?.map(\.position) == [0, 120] && ray.endPosition == 120 && ray.durationBucket == 5)
        #expect(ray.startImage == .file(path: "/shots/refs/a.png", sha256: "aa11") && ray.fps?.description == "24")
        guard case .stitch(let vertical) = try JobSpec(json: Self.stored[3].json) else { Issue.record("not a stitch"); return }
        #expect(vertical.reframe == JobSpec.Reframe(aspect: .vertical, tag: "9x16", position: .center))
        #expect(vertical.segmentJobs.map(\.reframeJob) == ["sh010/s0r9x16", "sh010/s1r9x16"])
        #expect(vertical.outputs == [.mp4] && vertical.exrColorspace == .aces2065 && vertical.hdr && vertical.frames == 240)
        let reframe = try SegmentSpec(json: Self.stored[2].json)
        #expect(reframe.reframe?.of == "sh010/s0" && reframe.anchors == [] && reframe.startImage == nil)
    }

    @Test func aSpecAsTheWorkerGetsItDecodesWithWhatTheStoreAdded() throws {
        let spec = try SegmentSpec(json: Self.dispatched)
        #expect(spec.startImage == .lastFrameOf(job: "sh010/s0") && spec.endImage == .file(path: "/srv/shots/refs/sh010_b.png"))
        #expect(spec.inputs["sh010/s0"]?.map(\.mediaType) == ["video/mp4", "image/png"])
        #expect(spec.inputs["sh010/s0"]?.last?.storageRoot == "/srv/farm" && spec.inputs["sh010/s0"]?.first?.bytes == 2048)
        #expect(spec.providerFiles == ["ef56": "file-9"])
        #expect(spec.reuse?.attemptID == 41 && spec.reuse?.artifacts.first?.frames == 49)
        #expect(try JobSpec.reuse(in: Self.dispatched) == spec.reuse)
        // A job's spec, whatever its kind, may name no reuse.
        #expect(try JobSpec.reuse(in: Self.stored[1].json) == nil)
        #expect(try SegmentSpec(json: spec.json) == spec)
    }

    @Test func everyKindRoundTrips() throws {
        var segment = SegmentSpec(key: "sh010/s1p2", shot: "sh010", startFrame: 40, endFrame: 96, width: 1280, height: 720,
                                  engine: .fal(model: "fal-ai/kling-video/v2.6/pro/image-to-video"))
        segment.part = 2
        segment.parts = 2
        segment.dependsOn = ["sh010/s1p1"]
        segment.startImage = .lastFrameOf(job: "sh010/s1p1")
        segment.endImage = .url("https://cdn.example/b.png")
        segment.modelInputs = ModelInputs(startField: "start_image_url", endField: "end_image_url", duration: .string)
        segment.draft = true
        segment.fit = "fit"
        segment.inputs = ["sh010/s1p1": [JobSpec.Artifact(path: "a/last_frame.png", sha256: "00", bytes: 3, mediaType: "image/png")]]
        var reframed = segment
        reframed.reframe = JobSpec.Reframe(aspect: .square, tag: "1x1", position: .rect(x: -0.25, y: 0, w: 1.5, h: 1), of: "sh010/s1p2")
        var stitch = StitchSpec(key: "sh010/stitch_1x1", shot: "sh010", endFrame: 96, fps: try #require(FrameRate(text: "24000/1001")),
                                width: 720, height: 720,
                                segmentJobs: [StitchSpec.Piece(key: "sh010/s0", segmentIndex: 0, startFrame: 0, endFrame: 40)])
        stitch.outputs = [.mp4, .prores]
        stitch.seam = 2
        stitch.reframe = reframed.reframe
        var smoke = SmokeSpec(ms: 50, failRate: 0.25, failAttempts: 1)
        smoke.byAttempt = ["1": SmokeSpec.Override(ms: 60_000, progress: false)]
        for spec in [JobSpec.segment(segment), .segment(reframed), .stitch(stitch), .smoke(smoke)] {
            let back = try JobSpec(json: spec.json)
            #expect(back == spec, "\(spec.json)")
            #expect(back.json == spec.json)
        }
        #expect(stitch.json.contains(#""fps_rational":"24000/1001""#))
        #expect(reframed.json.contains(#""position":{"h_norm":1,"w_norm":1.5,"x_norm":-0.25,"y_norm":0}"#), "\(reframed.json)")
        // A smoke attempt runs with its override.
        #expect(smoke.forAttempt(1).ms == 60_000 && !smoke.forAttempt(1).progress && smoke.forAttempt(2).ms == 50)
    }

    @Test func absentOptionalFieldsTakeTheirDefaults() throws {
        let segment = try SegmentSpec(json: #"""
            {"key": "sh010/s0", "shot": "sh010", "engine": "interpolate", "start_frame": 0, "end_frame": 6, "frames": 7,
             "width": 160, "height": 112}
            """#)
        #expect(segment.part == 1 && segment.parts == 1 && segment.priority == 50 && segment.maxAttempts == 3)
        #expect(segment.take == 1 && !segment.hdr && !segment.exrExport && !segment.draft && segment.priceKnown)
        #expect(segment.resolution == .p720 && segment.aspect == .widescreen && segment.fps == nil)
        #expect(segment.inputs.isEmpty && segment.providerFiles.isEmpty && segment.reuse == nil && segment.anchors == nil)
        let stitch = try StitchSpec(json: #"""
            {"key": "sh010/stitch", "shot": "sh010", "end_frame": 47, "fps_rational": "25", "width": 960, "height": 540,
             "segment_jobs": [{"key": "sh010/s0", "start_frame": 0, "end_frame": 47}]}
            """#)
        #expect(stitch.outputs == [.mp4] && stitch.seam == 0 && stitch.exrColorspace == nil && stitch.frames == 48)
        #expect(stitch.segmentJobs[0].take == 1 && stitch.segmentJobs[0].segmentIndex == nil && stitch.segmentJobs[0].engine == "")
        #expect(try SmokeSpec(json: "{}") == SmokeSpec())
    }

    @Test func aMissingOrWrongFieldIsAnErrorNamingIt() throws {
        let stored = Self.stored[1].json
        func refusal(_ json: String, as kind: (String) throws(JobSpecError) -> Void) -> JobSpecError? {
            do {
                try kind(json)
                return nil
            } catch {
                return error
            }
        }
        let stitch = { (json: String) throws(JobSpecError) in _ = try StitchSpec(json: json) }
        let segment = { (json: String) throws(JobSpecError) in _ = try SegmentSpec(json: json) }
        let any = { (json: String) throws(JobSpecError) in _ = try JobSpec(json: json) }

        #expect(refusal(stored.replacingOccurrences(of: #""shot":"sh010","#, with: ""), as: stitch)?.description
                == "spec: shot is missing")
        let piece = refusal(stored.replacingOccurrences(of: #""key":"sh010/s1","#, with: ""), as: stitch)
        #expect(piece == JobSpecError(field: "segment_jobs[1].key", problem: "is missing"))
        #expect(refusal(stored.replacingOccurrences(of: #""width":1920"#, with: #""width":"wide""#), as: stitch)?.description
                == "spec: width must be a whole number")
        let format = refusal(stored.replacingOccurrences(of: #""hdr10"]"#, with: #""gif"]"#), as: stitch)
        #expect(format?.field == "outputs[2]" && format?.problem.contains(#"is "gif", not one of mp4, prores, exr, hdr10"#) == true)
        let old = refusal(stored.replacingOccurrences(of: #""segment_jobs""#, with: #""pieces""#), as: stitch)
        #expect(old?.description.hasPrefix("spec: segment_jobs is missing (a stitch job planned by an older keyfarm") == true)
        let rate = refusal(stored.replacingOccurrences(of: #""fps_rational":"24""#, with: #""fps_rational":"23""#), as: stitch)
        #expect(rate?.field == "fps_rational" && rate?.problem.hasPrefix(#"is "23", not one of 24, 25"#) == true)

        let ray = Self.stored[0].json
        #expect(refusal(ray.replacingOccurrences(of: #""frames":121,"#, with: ""), as: segment)?.description == "spec: frames is missing")
        let image = refusal(ray.replacingOccurrences(of: #""path":"/shots/refs/b.png","sha256":"bb22"},"keyframe":1"#,
                                                     with: #""sha256":"bb22"},"keyframe":1"#), as: segment)
        #expect(image == JobSpecError(field: "anchors[1].image.path", problem: "is missing"))
        let kind = refusal(ray.replacingOccurrences(of: #"{"kind":"file","path":"/shots/refs/a.png","sha256":"aa11"},"take""#,
                                                    with: #"{"kind":"ftp","path":"/shots/refs/a.png"},"take""#), as: segment)
        #expect(kind?.field == "start_image.kind" && kind?.problem == #"is "ftp", not file, url or last_frame_of"#)
        let engine = refusal(ray.replacingOccurrences(of: #""luma/ray-3.2""#, with: #""acme/ray-9""#), as: segment)
        #expect(engine?.field == "engine" && engine?.problem.hasPrefix(#"is "acme/ray-9", not an engine keyfarm knows"#) == true)

        #expect(refusal(ray.replacingOccurrences(of: #""kind":"segment""#, with: #""kind":"render""#), as: any)
                == JobSpecError(field: "kind", problem: #"is "render", not segment, stitch or smoke"#))
        #expect(refusal("{\"kind\": ", as: any)?.description == "spec is not valid JSON")
        #expect(refusal("[1, 2]", as: any)?.description == "spec must be an object")
        #expect(refusal(#"{"reuse": {"attempt_id": 1}}"#, as: { (json: String) throws(JobSpecError) in _ = try JobSpec.reuse(in: json) })
                == JobSpecError(field: "reuse.attempt", problem: "is missing"))
    }

    @Test func fieldsItDoesNotKnowAreIgnored() throws {
        let stored = Self.stored[3].json
        let extended = stored
            .replacingOccurrences(of: #"{"aspect":"9:16","depends_on""#, with: #"{"aspect":"9:16","comes_from":{"tool":"next"},"depends_on""#)
            .replacingOccurrences(of: #""reframe_job":"sh010/s0r9x16","#, with: #""reframe_job":"sh010/s0r9x16","weight":0.5,"#)
            .replacingOccurrences(of: #""tag":"9x16"}"#, with: #""tag":"9x16","crop":"smart"}"#)
        #expect(extended != stored)
        let spec = try JobSpec(json: extended)
        #expect(spec == (try JobSpec(json: stored)))
        #expect(spec.json == stored)
        #expect(try SmokeSpec(json: #"{"kind": "smoke", "ms": 5, "colour": "green"}"#).ms == 5)
    }
}
