import Foundation
@testable import KeyfarmFakeProvider
import KeyfarmProviders
import Testing

/// The fake's Luma Dream Machine API, driven over real HTTP with Keyfarm's own libcurl client.
@Suite struct LumaDreamMachineTests {
    static func body(frame0: String? = nil, frame1: String? = nil, model: Any = "ray-2", duration: Any = "5s") -> [String: Any] {
        var keyframes: [String: Any] = [:]
        if let frame0 { keyframes["frame0"] = ["type": "image", "url": frame0] }
        if let frame1 { keyframes["frame1"] = ["type": "image", "url": frame1] }
        return ["prompt": "a heron lifts off the reeds", "model": model, "resolution": "540p", "duration": duration,
                "aspect_ratio": "16:9", "keyframes": keyframes]
    }

    @Test func generationFromTwoKeyframesRendersTheClip() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let first = try client.upload("examples/refs/sh010_a.png", as: "a.png")
                let last = try client.upload("examples/refs/sh010_b.png", as: "b.png")
                let created = try client.send("POST", "/dream-machine/v1/generations/video",
                                              json: Self.body(frame0: first, frame1: last))
                #expect(created.status == 201)
                let generation = try object(created)
                #expect(generation["state"] as? String == "queued")
                #expect(generation["failure_reason"] is NSNull)
                #expect(generation["assets"] is NSNull)
                #expect(generation["model"] as? String == "ray-2")
                #expect((generation["request"] as? [String: Any])?["prompt"] as? String == "a heron lifts off the reeds")
                let id = try #require(generation["id"] as? String)
                #expect(UUID(uuidString: id) != nil)

                let (done, states) = try client.poll("/dream-machine/v1/generations/\(id)", key: "state") { $0 == "completed" || $0 == "failed" }
                #expect(states.first == "dreaming")
                #expect(states.last == "completed", "failure_reason: \(done["failure_reason"] ?? "")")
                let video = try #require((done["assets"] as? [String: Any])?["video"] as? String)
                #expect(video == "\(fake.baseURL)/files/\(id).mp4")

                let path = NSTemporaryDirectory() + "fake-luma-\(id).mp4"
                defer { unlink(path) }
                let file = try client.http.download(video, to: path)
                #expect(file.mediaType == "video/mp4")
                #expect(try Probe.of(path) == Probe(codec: "h264", width: 960, height: 540, frames: 5 * 24))
                // The clip starts on frame0's image and ends on frame1's.
                let a = repositoryRoot.appendingPathComponent("examples/refs/sh010_a.png").path
                let b = repositoryRoot.appendingPathComponent("examples/refs/sh010_b.png").path
                let startOnA = try psnr(clip: path, last: false, image: a, width: 960, height: 540)
                let startOnB = try psnr(clip: path, last: false, image: b, width: 960, height: 540)
                let endOnB = try psnr(clip: path, last: true, image: b, width: 960, height: 540)
                let endOnA = try psnr(clip: path, last: true, image: a, width: 960, height: 540)
                #expect(startOnA > 30 && startOnA > startOnB + 5, "first frame PSNR vs a \(startOnA), vs b \(startOnB)")
                #expect(endOnB > 30 && endOnB > endOnA + 5, "last frame PSNR vs b \(endOnB), vs a \(endOnA)")

                let billing = try object(client.send("GET", "/_fake/billing", auth: nil))
                #expect(billing["luma"] as? [String: Int] == ["created": 1, "billed": 1])

                // A further poll neither changes the state nor bills again.
                _ = try client.send("GET", "/dream-machine/v1/generations/\(id)")
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma"] as? [String: Int] == ["created": 1, "billed": 1])

                let deleted = try client.send("DELETE", "/dream-machine/v1/generations/\(id)")
                #expect(deleted.status == 204)
                #expect(try client.send("GET", "/dream-machine/v1/generations/\(id)").status == 404)
                #expect(try client.send("GET", "/files/\(id).mp4", auth: nil).status == 404)
            }
        }
    }

    @Test func noKeyframesRendersAColourClipOfTheRequestedLength() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                var body = Self.body(model: "ray-flash-2", duration: "9s")
                body["aspect_ratio"] = "1:1"
                body["keyframes"] = nil
                let created = try client.send("POST", "/dream-machine/v1/generations/video", json: body)
                #expect(created.status == 201)
                let id = try #require(try object(created)["id"] as? String)
                let (done, _) = try client.poll("/dream-machine/v1/generations/\(id)", key: "state") { $0 == "completed" || $0 == "failed" }
                let video = try #require((done["assets"] as? [String: Any])?["video"] as? String)
                let path = NSTemporaryDirectory() + "fake-luma-\(id).mp4"
                defer { unlink(path) }
                _ = try client.http.download(video, to: path)
                #expect(try Probe.of(path) == Probe(codec: "h264", width: 540, height: 540, frames: 9 * 24))
            }
        }
    }

    @Test func credentialsAreRequiredAndNeverRecorded() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                for auth in [nil, "Token abc", "Bearer ", "Key \(FakeClient.lumaKey)"] as [String?] {
                    let response = try client.send("POST", "/dream-machine/v1/generations/video", auth: auth, json: Self.body())
                    #expect(response.status == 401, "auth \(auth ?? "none")")
                    #expect(try object(response)["detail"] is String)
                }
                #expect(try client.send("GET", "/dream-machine/v1/generations/\(UUID())", auth: nil).status == 401)
                #expect(try client.send("POST", "/dream-machine/v1/generations/video", json: Self.body()).status == 201)

                let log = try client.send("GET", "/_fake/requests", auth: nil)
                #expect(!log.text.contains(FakeClient.lumaKey))
                #expect(!log.text.contains("abc"))
                let records = try #require(try JSONSerialization.jsonObject(with: Data(log.body)) as? [[String: Any]])
                #expect(records.count == 6)
                #expect(records.first?["auth_scheme"] is NSNull)
                #expect(records.first?["status"] as? Int == 401)
                #expect(records[1]["auth_scheme"] as? String == "Token")
                #expect(records[1]["auth_header"] as? String == "authorization")
                #expect(records[5]["method"] as? String == "POST")
                #expect(records[5]["path"] as? String == "/dream-machine/v1/generations/video")
                #expect(records[5]["auth_scheme"] as? String == "Bearer")
                #expect(records[5]["status"] as? Int == 201)
                #expect(records[5]["time"] is String)
            }
        }
    }

    @Test func badBodiesAreRefusedWithADetail() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                var noPrompt = Self.body()
                noPrompt["prompt"] = nil
                var badKeyframe = Self.body()
                badKeyframe["keyframes"] = ["frame0": ["type": "image", "url": "file:///etc/passwd"]]
                var unknownGeneration = Self.body()
                unknownGeneration["keyframes"] = ["frame0": ["type": "generation", "id": UUID().uuidString]]
                let cases: [(String, Any?, [UInt8]?, Set<Int>, String)] = [
                    ("unknown model", Self.body(model: "ray-9"), nil, [400], "model"),
                    ("bad duration", Self.body(duration: "7s"), nil, [400], "duration"),
                    ("mistyped duration", Self.body(duration: 5), nil, [422], "duration"),
                    ("missing prompt", noPrompt, nil, [422], "prompt"),
                    ("not JSON", nil, Array("{\"prompt\":".utf8), [400], "JSON"),
                    ("file keyframe", badKeyframe, nil, [400], "frame0"),
                    ("unknown generation keyframe", unknownGeneration, nil, [400], "not found"),
                ]
                for (name, json, raw, statuses, mention) in cases {
                    let response = try client.send("POST", "/dream-machine/v1/generations/video", json: json, raw: raw)
                    #expect(statuses.contains(response.status), "\(name): \(response.status)")
                    let detail = try object(response)["detail"] as? String ?? ""
                    #expect(detail.contains(mention), "\(name): \(detail)")
                }
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma"] as? [String: Int] == ["created": 0, "billed": 0])
                #expect(try client.send("GET", "/dream-machine/v1/generations/\(UUID().uuidString.lowercased())").status == 404)
                #expect(try client.send("DELETE", "/dream-machine/v1/generations/nope").status == 404)
            }
        }
    }

    @Test func keyframeFetchFailureFailsTheGenerationUnbilled() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let created = try client.send("POST", "/dream-machine/v1/generations/video",
                                              json: Self.body(frame0: fake.baseURL + "/_fake/assets/missing.png"))
                #expect(created.status == 201)
                let id = try #require(try object(created)["id"] as? String)
                let (done, _) = try client.poll("/dream-machine/v1/generations/\(id)", key: "state") { $0 == "completed" || $0 == "failed" }
                #expect(done["state"] as? String == "failed")
                let reason = done["failure_reason"] as? String ?? ""
                #expect(reason.contains("download") && reason.contains("404"), "\(reason)")
                #expect(done["assets"] is NSNull)
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma"] as? [String: Int] == ["created": 1, "billed": 0])
            }
        }
    }

    @Test func timedPacingAdvancesWithoutPolls() async throws {
        // A step long enough that the first poll lands inside it even while the suite's other
        // fakes render in parallel on two cores (400 ms was not: the poll saw dreaming).
        try await withFakeProvider(.init(pacing: .after(.milliseconds(1500)))) { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let id = try #require(try object(client.send("POST", "/dream-machine/v1/generations/video", json: Self.body()))["id"] as? String)
                let path = "/dream-machine/v1/generations/\(id)"
                #expect(try object(client.send("GET", path))["state"] as? String == "queued")
                // No polls for 2.5 steps: time alone must have moved it on (how far depends on load).
                Thread.sleep(forTimeInterval: 3.75)
                let later = try object(client.send("GET", path))["state"] as? String
                #expect(later == "dreaming" || later == "completed", "\(later ?? "nil")")
                let (_, states) = try client.poll(path, key: "state") { $0 == "completed" || $0 == "failed" }
                #expect(states.last == "completed")
            }
        }
    }
}
