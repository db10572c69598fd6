import Foundation
import KeyfarmProcess
import Testing

/// The Python with the providers' official SDKs (ops/scripts/provider-sdks), or why there is none.
enum ProviderSDKs {
    /// `.success(python)`, `.failure(reason)`; `unreachable` tells a package index that cannot
    /// be reached (the only reason to skip) from a real failure.
    static let python: (path: String?, reason: String, unreachable: Bool) = {
        do {
            let outcome = try ChildProcess(executable: repositoryFile("ops/scripts/provider-sdks"), arguments: [],
                                           environment: ProcessInfo.processInfo.environment).run()
            let last = outcome.output.split(separator: "\n").last.map(String.init) ?? ""
            if outcome.status == 0 { return (last, "", false) }
            return (nil, outcome.tail(5), outcome.status == 3)
        } catch {
            return (nil, "\(error)", false)
        }
    }()
}

extension ProviderSDKs {
    /// Runs the SDK driver `ops/sdk/<script>` with the SDKs' Python against `base` (what it
    /// downloads goes into `out`) and returns the JSON object of results it prints last.
    static func run(_ script: String, base: String, out: String) async throws -> [String: [String: Any]] {
        let python = try #require(python.path, "ops/scripts/provider-sdks failed: \(python.reason)")
        let outcome = try await onThread {
            try ChildProcess(executable: python, arguments: [repositoryFile("ops/sdk/" + script), base, out],
                             environment: ProcessInfo.processInfo.environment).run()
        }
        try #require(outcome.status == 0, "the SDK script failed: \(outcome.tail(10))")
        let line = try #require(outcome.output.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: [String: Any]])
    }
}

/// The fake's Luma Agents API, driven by the official `luma-agents` SDK: what the SDK sends is
/// accepted, what its docstrings say the API refuses is refused with `{"detail": ...}`, and
/// keyframes land on their grid positions in the rendered clip.
@Suite(.enabled(if: !ProviderSDKs.python.unreachable, "PyPI cannot be reached, so the luma-agents SDK cannot be installed"))
struct LumaAgentsSDKTests {
    @Test func theOfficialSDKAgreesWithTheFake() async throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("keyfarm-sdk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        try await withFakeProvider { fake in
            let results = try await ProviderSDKs.run("luma_agents_check.py", base: fake.baseURL + "/v1", out: out)

            // Accepted: keyframes on the 5 s grid, 10 s HDR with an EXR export, and the legacy
            // surface continuing a generation by id.
            for name in ["keyframes", "hdr_ten_seconds", "legacy"] {
                #expect(results[name]?["ok"] as? Bool == true, "\(name): \(results[name] ?? [:])")
                #expect(results[name]?["model"] as? String == "ray-3.2")
            }
            let done = try #require(results["keyframes.done"])
            #expect(done["state"] as? String == "completed")
            let outputs = try #require(done["outputs"] as? [[String: Any]])
            #expect(outputs.first?["type"] as? String == "video")
            #expect((outputs.first?["url"] as? String)?.contains("expires=") == true)
            let video = try #require(done["video"] as? String)
            // Every point of the 5 s grid, 0 through 120, is a frame; keyframe i shows at its index.
            #expect(try Probe.of(video).frames == 121)
            #expect(try dominant(video, frame: 0) == 0)
            #expect(try dominant(video, frame: 60) == 1)
            #expect(try dominant(video, frame: 120) == 2)
            #expect(results["legacy.done"]?["state"] as? String == "completed")
            // The Files flow as the SDK drives it, and a generation that names the file.
            let files = try #require(results["files"])
            #expect(files["created_state"] as? String == "pending" && files["put_status"] as? Int == 200)
            #expect(files["completed_state"] as? String == "ready" && files["state"] as? String == "ready", "\(files)")
            #expect(files["mime_type"] as? String == "image/png" && (files["listed"] as? [String])?.count == 1)
            #expect(results["with_file.done"]?["state"] as? String == "completed", "\(results["with_file.done"] ?? [:])")
            // A reframe: the source's 121 frames at 9:16 (360p: 360x640).
            #expect(results["reframe"]?["type"] as? String == "video_reframe", "\(results["reframe"] ?? [:])")
            let reframed = try #require(results["reframe.done"]?["video"] as? String)
            #expect(try Probe.of(reframed) == Probe(codec: "h264", width: 360, height: 640, frames: 121))

            // Refused as the SDK's docstrings describe, each with a {"detail": ...} body.
            let refusals: [String: String] = [
                "ten_seconds_without_keyframes": "10s needs video.keyframes",
                "hdr_without_keyframes": "video.hdr needs video.keyframes",
                "exr_without_hdr": "requires video.hdr",
                "hdr_at_360p": "360p is SDR only",
                "hdr_at_540p": "540p is SDR only",
                "keyframes_and_start_frame": "mutually exclusive with video.start_frame",
                "indexes_do_not_match": "must match",
                "index_off_the_grid": "off the 5s grid",
                "duplicate_indexes": "unique",
                "two_sources_in_one_ref": "exactly one of url, data, generation_id or file_id",
                "loop_with_keyframes": "mutually exclusive with video.loop",
                "aspect_ratio_inside_video": "video.aspect_ratio: unknown field",
                "unknown_model": "Invalid model",
                "reframe_in_hdr": "HDR is not supported for video_reframe",
                "deleted_file": "not found or not ready",
            ]
            for (name, phrase) in refusals {
                let result = try #require(results[name], "\(name) did not run")
                #expect(result["ok"] as? Bool == false, "\(name) was accepted")
                #expect(result["error"] as? String == "BadRequestError", "\(name): \(result)")
                let detail = (result["body"] as? [String: Any])?["detail"] as? String ?? ""
                #expect(detail.contains(phrase), "\(name): \(detail)")
            }
            #expect(results["missing"]?["error"] as? String == "NotFoundError")
        }
    }

    /// Which of red, green, blue dominates frame `frame` of a clip (0, 1 or 2).
    func dominant(_ video: String, frame: Int) throws -> Int {
        let pixel = video + ".\(frame).rgb"
        defer { unlink(pixel) }
        let outcome = try ChildProcess(executable: "/usr/bin/ffmpeg", arguments: [
            "-v", "error", "-y", "-i", video, "-vf", "select=eq(n\\,\(frame)),scale=1:1", "-frames:v", "1",
            "-f", "rawvideo", "-pix_fmt", "rgb24", pixel,
        ], environment: [:]).run()
        let bytes = Array((FileManager.default.contents(atPath: pixel) ?? Data()).prefix(3))
        guard outcome.status == 0, bytes.count == 3 else { throw FakeTestError("cannot read frame \(frame) of \(video)") }
        return bytes.firstIndex(of: bytes.max()!)!
    }
}
