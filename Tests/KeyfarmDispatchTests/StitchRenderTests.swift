import Foundation
import KeyfarmMedia
import KeyfarmProcess
import KeyfarmTestSupport
import Testing

/// Whole shots through the farm: `keyfarm submit`, a real coordinator and worker rendering
/// `interpolate` and provider segments (the fake provider), a continuity keyframe, and the
/// stitch job writing the deliverables that `keyfarm outputs` and `keyfarm status` list.
@Suite(.serialized) struct StitchRenderTests {
    @Test func shotsRenderThroughTheFarmAndStitchIntoTheirDeliverables() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            // sh10: all interpolate, 12 frames, keyframes on frames 0, 6 and 11.
            // sh20: a Luma segment from an image to a free end, then interpolate from its last
            // frame (the keyframe at 1 s has no image) to an image; 36 frames, a seam of 2.
            let yaml = """
                version: 1
                name: stitched
                project: e2e
                defaults: { fps: 24, resolution: 540p, aspect: "16:9", engine: interpolate }
                shots:
                  - id: sh10
                    duration: 0.5
                    outputs: [mp4, exr]
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_a.png"))" }
                      - { at: 0.25, image: "\(Refs.path("sh010_b.png"))" }
                      - { at: 0.5, image: "\(Refs.path("sh010_c.png"))" }
                  - id: sh20
                    duration: 1.5
                    outputs: [mp4, prores]
                    seam: 2
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh020_a.png"))", prompt: "a kite climbs over the meadow" }
                      - { at: 1 }
                      - { at: 1.5, image: "\(Refs.path("sh020_b.png"))" }
                    segments:
                      "0": { engine: luma/ray-2 }
                """
            try provider.submit(yaml, name: "stitched")
            try provider.startCoordinator()
            try provider.startWorker("stitcher", slots: 2, engines: "interpolate,stitch,luma/*")
            let stitched = try eventually(timeout: .seconds(400)) {
                try provider.farm.count("""
                    SELECT count(*)::int AS n FROM keyfarm.v_jobs WHERE shot_list = 'stitched' AND kind = 'stitch' AND state = 'succeeded'
                    """) == 2
            }
            #expect(stitched, "\(provider.logs)")
            guard stitched else { return }

            let listing = try provider.keyfarm(["outputs", "stitched", "--json", "--storage", provider.storage])
            let document = try #require(try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any])
            let shots = try #require(document["shots"] as? [[String: Any]])
            func outputs(_ shot: Int) -> [String: [String: Any]] {
                let list = shots[shot]["outputs"] as? [[String: Any]] ?? []
                return Dictionary(uniqueKeysWithValues: list.map { ($0["format"] as? String ?? "?", $0) })
            }
            #expect(Set(outputs(0).keys) == ["mp4", "exr", "manifest"])
            #expect(Set(outputs(1).keys) == ["mp4", "prores", "manifest"])
            #expect(outputs(0)["mp4"]?["frames"] as? Int == 12 && outputs(0)["exr"]?["frames"] as? Int == 12)
            #expect(outputs(1)["mp4"]?["frames"] as? Int == 36 && outputs(1)["prores"]?["frames"] as? Int == 36)
            let shotDirectory = provider.storage + "/e2e/stitched/sh10"
            #expect(outputs(0)["mp4"]?["path"] as? String == shotDirectory + "/sh10.mp4")

            // Independent counts: ffprobe decodes every frame.
            for (path, frames) in [(shotDirectory + "/sh10.mp4", 12), (provider.storage + "/e2e/stitched/sh20/sh20.mp4", 36),
                                   (provider.storage + "/e2e/stitched/sh20/sh20.mov", 36)] {
                let probe = try ChildProcess(executable: "ffprobe", arguments: [
                    "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames",
                    "-of", "default=nokey=1:noprint_wrappers=1", path,
                ], environment: ProcessInfo.processInfo.environment).run()
                #expect(probe.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(frames)", "\(path): \(probe.output)")
            }
            // The middle keyframe lands on its frame of the lossless EXR sequence.
            let keyframe = try ImageFile.read(Refs.path("sh010_b.png"))
            let landed = try ImageFile.read(shotDirectory + "/exr/sh10.0006.exr")
            #expect(ImageQuality.psnr(landed, keyframe) > 40)

            // The manifest names the provider request behind sh20's first frames, and the
            // interpolated segment after the continuity keyframe starts on the clip's last frame.
            let manifestData = try Data(contentsOf: URL(fileURLWithPath: provider.storage + "/e2e/stitched/sh20/manifest.json"))
            let manifest = try #require(try JSONSerialization.jsonObject(with: manifestData) as? [String: Any])
            let frames = try #require(manifest["frame_sources"] as? [[String: Any]])
            #expect(frames.count == 36)
            let first = try #require((frames[0]["sources"] as? [[String: Any]])?.first)
            let requestID = try provider.farm.store.connection.execute("""
                SELECT provider_request_id FROM keyfarm.v_attempts WHERE shot_list = 'stitched' AND job_key = 'sh20/s0' AND outcome = 'succeeded'
                """).rows.first?.decode("provider_request_id", as: String.self)
            #expect(first["job"] as? String == "sh20/s0" && first["engine"] as? String == "luma/ray-2")
            #expect(first["provider"] as? String == "luma" && first["provider_request_id"] as? String == requestID)
            let last = try #require((frames[35]["sources"] as? [[String: Any]])?.first)
            #expect(last["job"] as? String == "sh20/s1" && last["engine"] as? String == "interpolate")
            let segments = provider.storage + "/e2e/stitched/sh20/segments"
            let clipEnd = try ImageFile.read(segments + "/sh20_s0/attempt-1/last_frame.png")
            let nextStart = try ImageFile.read(segments + "/sh20_s1/attempt-1/frame_0000.png")
            #expect(ImageQuality.psnr(nextStart, clipEnd) > 60)

            let status = try provider.keyfarm(["status", "stitched", "--storage", provider.storage])
            #expect(status.contains("output mp4: \(shotDirectory)/sh10.mp4 (12 frames)"), "\(status)")
            #expect(status.contains("output prores: \(provider.storage)/e2e/stitched/sh20/sh20.mov (36 frames)"), "\(status)")
            let table = try provider.keyfarm(["outputs", "stitched", "--storage", provider.storage])
            #expect(table.contains("2 of 2 shot(s) stitched"), "\(table)")
        }
    }
}

/// A ray-3.2 shot through the farm: one generation carries every keyframe at its grid
/// position, and the stitch takes the clip up to the last keyframe's position only.
@Suite(.serialized) struct MultiKeyframeRenderTests {
    @Test func oneGenerationCarriesEveryKeyframeAndTheStitchEndsOnTheLast() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            // 3 s, four keyframes: one 5 s generation with anchors at 0, 18, 36 and 72 of its
            // 121-point grid; the stitch uses positions 0..72 for the shot's 72 frames.
            let yaml = """
                version: 1
                name: anchored
                project: e2e
                defaults: { fps: 24, resolution: 540p, aspect: "16:9", engine: luma/ray-3.2, outputs: [mp4, exr] }
                shots:
                  - id: sh10
                    duration: 3
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_a.png"))", prompt: "a ball rolls across the meadow" }
                      - { at: 0.75, image: "\(Refs.path("sh010_b.png"))" }
                      - { at: 1.5, image: "\(Refs.path("sh010_c.png"))", prompt: "it slows by the crate" }
                      - { at: 3, image: "\(Refs.path("sh020_a.png"))" }
                """
            try provider.submit(yaml, name: "anchored")
            let plan = try provider.keyfarm(["plan", provider.directory + "/anchored.yaml"])
            #expect(plan.contains("sh10/s0 anchors (keyframe@position on the 24 fps grid, 5 s clip, positions 0-72 used): k0@0, k1@18, k2@36, k3@72"), "\(plan)")
            try provider.startCoordinator()
            try provider.startWorker("anchors", slots: 2, engines: "stitch,luma/*")
            let stitched = try provider.waitForStitches("anchored", 1)
            #expect(stitched, "\(provider.logs)")
            guard stitched else { return }
            // Without --storage, outputs are where the stitching worker wrote them: its storage
            // root, which `keyfarm workers` shows too.
            let listing = try provider.keyfarm(["outputs", "anchored", "--json"])
            let document = try #require(try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any])
            let outputs = try #require((document["shots"] as? [[String: Any]])?.first?["outputs"] as? [[String: Any]])
            let mp4 = try #require(outputs.first { $0["format"] as? String == "mp4" })
            #expect(mp4["path"] as? String == provider.storage + "/e2e/anchored/sh10/sh10.mp4", "\(mp4)")
            #expect(mp4["storage_root"] as? String == provider.storage)
            #expect(try provider.keyfarm(["status", "anchored"]).contains("output mp4: \(provider.storage)/e2e/anchored/sh10/sh10.mp4"))
            #expect(try provider.keyfarm(["outputs", "anchored", "--storage", "/mnt/farm"]).contains("/mnt/farm/e2e/anchored/sh10/sh10.mp4"))
            #expect(try provider.keyfarm(["workers", "--json"]).contains("\"storage_root\" : \"\(provider.storage)\""))
            // One generation, billed once, charged its 5 s price.
            #expect(try provider.creates().count == 1)
            #expect(try provider.billed()["luma_agents"] == 1)
            #expect(try provider.ledgerNet("anchored") == 15)
            // Each keyframe shows on its shot frame, including the last, which sits at grid
            // position 72 of a clip that runs on to 120.
            let directory = provider.storage + "/e2e/anchored/sh10"
            for (frame, image) in [(0, "sh010_a.png"), (18, "sh010_b.png"), (36, "sh010_c.png"), (71, "sh020_a.png")] {
                let landed = try ImageFile.read(directory + String(format: "/exr/sh10.%04d.exr", frame))
                let expected = try ImageFile.read(Refs.path(image))
                let others = try ["sh010_a.png", "sh010_b.png", "sh010_c.png", "sh020_a.png"].filter { $0 != image }
                    .map { ImageQuality.psnr(landed, try ImageFile.read(Refs.path($0))) }
                let match = ImageQuality.psnr(landed, expected)
                #expect(match > 28 && others.allSatisfy { match > $0 + 3 }, "frame \(frame): \(match) dB against \(image), others \(others)")
            }
        }
    }
}

/// An HDR ray-3.2 shot through the farm: the generation is asked for HDR and the EXR export,
/// the worker keeps the export's frames, and the stitch delivers them scene-linear (EXR, AP0,
/// above 1.0), as an HDR10 master, and tone-mapped as MP4.
@Suite(.serialized) struct HDRRenderTests {
    @Test func anHDRShotDeliversEXRAndHDR10FromTheProvidersExport() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            let yaml = """
                version: 1
                name: hdr
                project: e2e
                defaults: { fps: 24, resolution: 720p, aspect: "16:9", engine: luma/ray-3.2 }
                shots:
                  - id: sh10
                    duration: 2
                    hdr: true
                    outputs: [mp4, exr, hdr10]
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_a.png"))", prompt: "sun flares over the harbour" }
                      - { at: 1, image: "\(Refs.path("sh010_b.png"))" }
                      - { at: 2, image: "\(Refs.path("sh010_c.png"))" }
                    segments:
                      "1": { engine: interpolate }
                """
            try provider.submit(yaml, name: "hdr")
            // HDR with the EXR export bills three 720p blocks' worth: 3 x 30.
            let plan = try provider.keyfarm(["plan", provider.directory + "/hdr.yaml", "--json"])
            #expect(plan.contains("\"exr_export\" : true") && plan.contains("\"estimated_credits\" : 90"), "\(plan)")
            try provider.startCoordinator()
            try provider.startWorker("hdr-1", slots: 2, engines: "stitch,interpolate,luma/*")
            let stitched = try provider.waitForStitches("hdr", 1)
            #expect(stitched, "\(provider.logs)")
            guard stitched else { return }
            #expect(try provider.billed()["luma_agents"] == 1)
            #expect(try provider.ledgerNet("hdr") == 90)
            let directory = provider.storage + "/e2e/hdr/sh10"
            // The ray-3.2 segment kept the export's 121 DWAB frames (positions 0..24 used); the
            // interpolated one wrote half-float EXR frames of its own.
            let segment = try provider.farm.store.connection.execute("""
                SELECT j.artifacts::text AS a FROM keyfarm.jobs j JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
                WHERE l.name = 'hdr' AND j.kind = 'segment' ORDER BY j.segment_index
                """).rows[0].decode("a", as: String.self)
            let interpolated = try provider.farm.store.connection.execute("""
                SELECT j.artifacts::text AS a FROM keyfarm.jobs j JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
                WHERE l.name = 'hdr' AND j.kind = 'segment' ORDER BY j.segment_index DESC
                """).rows[0].decode("a", as: String.self)
            #expect(interpolated.contains("application/vnd.keyfarm.exr-frames+json") && interpolated.contains("\"frames\": 24"), "\(interpolated)")
            #expect(try EXRCodec.read(path: directory + "/exr/sh10.0040.exr").info.chromaticities.flatMap(Primaries.init(chromaticities:)) == .ap0)
            #expect(segment.contains("application/vnd.keyfarm.exr-frames+json") && segment.contains("\"frames\": 121"), "\(segment)")
            // EXR deliverables: ACES2065-1 (the default for an ACES source), highlights above 1.0.
            let frame = try EXRCodec.read(path: directory + "/exr/sh10.0012.exr")
            #expect(frame.info.chromaticities.flatMap(Primaries.init(chromaticities:)) == .ap0)
            #expect(frame.info.maxValue > 1.5, "max \(frame.info.maxValue)")
            // The HDR10 master and the tone-mapped MP4, as ffprobe sees them; `outputs` lists both.
            let master = try VideoProbe.stream(directory + "/sh10_hdr10.mp4")
            #expect(master.codec == "hevc" && master.colorTransfer == "smpte2084" && master.colorPrimaries == "bt2020")
            #expect(master.packets == 48)
            let sdr = try VideoProbe.stream(directory + "/sh10.mp4")
            #expect(sdr.codec == "h264" && sdr.colorPrimaries == "bt709" && sdr.packets == 48)
            let outputs = try provider.keyfarm(["outputs", "hdr"])
            #expect(outputs.contains("hdr10") && outputs.contains("sh10_hdr10.mp4"), "\(outputs)")
        }
    }
}

/// Shots delivered at other aspect ratios through the farm: ray-3.2's own reframe of its
/// generation, and a free local crop of an interpolated master.
@Suite(.serialized) struct ReframeRenderTests {
    @Test func reframedDeliverablesSitBesideTheMaster() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            let yaml = """
                version: 1
                name: reframed
                project: e2e
                defaults: { fps: 24, resolution: 540p, aspect: "16:9", outputs: [mp4] }
                shots:
                  - id: sh10
                    duration: 2
                    engine: luma/ray-3.2
                    reframe: ["9:16"]
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_a.png"))", prompt: "a ball rolls across the meadow" }
                      - { at: 2, image: "\(Refs.path("sh010_c.png"))" }
                  - id: sh20
                    duration: 0.5
                    engine: interpolate
                    reframe: ["1:1"]
                    reframe_position: { x_norm: 0, y_norm: 0, w_norm: 1.5, h_norm: 1 }
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh020_a.png"))" }
                      - { at: 0.5, image: "\(Refs.path("sh020_b.png"))" }
                """
            try provider.submit(yaml, name: "reframed")
            try provider.startCoordinator()
            try provider.startWorker("reframer", slots: 2, engines: "interpolate,stitch,luma/*")
            let stitched = try provider.waitForStitches("reframed", 4)
            #expect(stitched, "\(provider.logs)")
            guard stitched else { return }
            // The generation and its reframe: two creates, two bills, 2 x 15 credits.
            #expect(try provider.billed()["luma_agents"] == 2)
            #expect(try provider.ledgerNet("reframed") == 30)
            let root = provider.storage + "/e2e/reframed"
            for (path, width, height, frames) in [("sh10/sh10.mp4", 960, 540, 48), ("sh10/sh10_9x16.mp4", 540, 960, 48),
                                                  ("sh20/sh20.mp4", 960, 540, 12), ("sh20/sh20_1x1.mp4", 540, 540, 12)] {
                let stream = try VideoProbe.stream(root + "/" + path)
                #expect(stream.width == width && stream.height == height && stream.packets == frames, "\(path): \(stream)")
            }
            // Each delivery has its own manifest; the reframed one names the reframe job.
            let manifest = try String(contentsOfFile: root + "/sh10/manifest_9x16.json", encoding: .utf8)
            #expect(manifest.contains("sh10/s0r9x16"))
            #expect(FileManager.default.fileExists(atPath: root + "/sh10/manifest.json"))
            let outputs = try provider.keyfarm(["outputs", "reframed"])
            #expect(outputs.contains("sh10_9x16.mp4") && outputs.contains("sh20_1x1.mp4"), "\(outputs)")
        }
    }
}

/// `keyfarm demo` as a newcomer runs it, on a small shot list: it starts the fake provider, a
/// coordinator and two workers, renders and stitches everything, prints the outputs and the
/// credits, rewords one prompt and renders only what that changed, stops its daemons, and works
/// a second time.
@Suite(.serialized) struct DemoCommandTests {
    @Test func theDemoRendersAShotListEndToEndTwice() async throws {
        try await offPool {
            let farm = try Farm()
            let directory = NSTemporaryDirectory() + "keyfarm-demo-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let list = directory + "/mini.yaml"
            try """
                version: 1
                name: mini
                project: demo-test
                defaults: { fps: 24, resolution: 540p, aspect: "16:9", engine: interpolate, outputs: [mp4] }
                shots:
                  - id: sh010
                    duration: 0.25
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_a.png"))" }
                      - { at: 0.25, image: "\(Refs.path("sh010_b.png"))" }
                  - id: sh020
                    duration: 2
                    engine: luma/ray-flash-2
                    outputs: [mp4, exr]
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh020_a.png"))", prompt: "a kite climbs" }
                      - { at: 1 }
                      - { at: 2, image: "\(Refs.path("sh020_b.png"))" }
                """.write(toFile: list, atomically: true, encoding: .utf8)
            for run in 1...2 {
                let outcome = try ChildProcess(executable: farm.binary, arguments: [
                    "demo", list, "--directory", directory + "/work", "--timeout", "300", "--encode-preset", "ultrafast",
                ], environment: farm.environment).run()
                #expect(outcome.status == 0, "run \(run): \(outcome.output)")
                let storage = directory + "/work/storage"
                #expect(outcome.output.contains("2 of 2 shot(s) stitched"), "run \(run): \(outcome.output)")
                #expect(outcome.output.contains("\(storage)/demo-test/mini/sh010/sh010.mp4"), "\(outcome.output)")
                #expect(outcome.output.contains("\(storage)/demo-test/mini/sh020/exr/sh020.%04d.exr"), "\(outcome.output)")
                #expect(outcome.output.contains("credits spent: 26 (luma 26)"), "run \(run): \(outcome.output)")
                // The revision rewords keyframe 1 of sh020: s1 renders again, s0 and all of sh010 are
                // reused, sh020 is restitched. The first render never reuses the run before.
                #expect(outcome.output.contains("revision \(2 * run) (sh020 keyframe 1's prompt \"\" -> \"seen against the wind\"): "
                                                + "reused 3 of 5 jobs, rendered 1 segment job(s), restitched sh020; it cost 13 credits "
                                                + "(the first render cost 26)"), "run \(run): \(outcome.output)")
                #expect(FileManager.default.fileExists(atPath: storage + "/demo-test/mini/sh020/sh020.mp4"))
                // Every daemon it started is gone.
                let leftovers = try ChildProcess(executable: "/usr/bin/pgrep", arguments: ["-f", directory + "/work"],
                                                 environment: [:]).run()
                #expect(leftovers.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "still running: \(leftovers.output)")
            }
            // An invalid shot list changes nothing and exits 65.
            try "version: 1\nname: broken\nshots: []\n".write(toFile: list, atomically: true, encoding: .utf8)
            let invalid = try ChildProcess(executable: farm.binary, arguments: ["demo", list, "--directory", directory + "/work"],
                                           environment: farm.environment).run()
            #expect(invalid.status == 65, "\(invalid.output)")
        }
    }
}
