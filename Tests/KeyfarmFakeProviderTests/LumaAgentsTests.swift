import Foundation
@testable import KeyfarmFakeProvider
import KeyfarmProviders
import Testing

/// The fake's Luma Agents API (ray-3.2 video under `/v1`), driven over real HTTP with Keyfarm's own libcurl client;
/// `LumaAgentsSDKTests` drives it with the official SDK.
@Suite struct LumaAgentsTests {
    static func body(start: [String: Any]? = nil, end: [String: Any]? = nil, duration: Any = "5s",
                     resolution: String = "540p") -> [String: Any] {
        var video: [String: Any] = ["duration": duration, "resolution": resolution, "loop": false]
        if let start { video["start_frame"] = start }
        if let end { video["end_frame"] = end }
        return ["model": "ray-3.2", "type": "video", "prompt": "a heron lifts off the reeds", "aspect_ratio": "16:9", "video": video]
    }

    static func inline(_ bytes: Data, _ mediaType: String) -> [String: Any] {
        ["data": bytes.base64EncodedString(), "media_type": mediaType]
    }

    /// Creates a generation, polls it to the end and returns the last body.
    static func generate(_ client: FakeClient, _ body: [String: Any]) throws -> [String: Any] {
        let created = try client.send("POST", "/v1/generations", json: body)
        guard created.status == 201 else { throw FakeTestError("create answered \(created.status): \(created.text)") }
        let id = try #require(try object(created)["id"] as? String)
        return try client.poll("/v1/generations/\(id)", key: "state") { $0 == "completed" || $0 == "failed" }.last
    }

    /// Downloads a completed generation's clip to a temporary file.
    static func download(_ client: FakeClient, _ generation: [String: Any]) throws -> String {
        let output = try #require((generation["output"] as? [[String: Any]])?.first)
        let path = NSTemporaryDirectory() + "fake-agents-\(generation["id"] as? String ?? "x").mp4"
        _ = try client.http.download(try #require(output["url"] as? String), to: path)
        return path
    }

    @Test func generationFromTwoKeyframeURLsRendersTheClip() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let first = try client.upload("examples/refs/sh010_a.png", as: "a.png")
                let last = try client.upload("examples/refs/sh010_b.png", as: "b.png")
                let created = try client.send("POST", "/v1/generations", json: Self.body(start: ["url": first], end: ["url": last]))
                #expect(created.status == 201)
                let generation = try object(created)
                #expect(Set(generation.keys) == ["id", "type", "model", "state", "created_at", "failure_code", "failure_reason", "output"])
                #expect(generation["type"] as? String == "video")
                #expect(generation["model"] as? String == "ray-3.2")
                #expect(generation["state"] as? String == "queued")
                #expect(generation["failure_code"] is NSNull)
                #expect(generation["failure_reason"] is NSNull)
                #expect((generation["output"] as? [Any])?.isEmpty == true)
                #expect((generation["created_at"] as? String)?.hasSuffix("Z") == true)
                let id = try #require(generation["id"] as? String)
                #expect(UUID(uuidString: id) != nil)

                let (done, states) = try client.poll("/v1/generations/\(id)", key: "state") { $0 == "completed" || $0 == "failed" }
                #expect(states == ["processing", "completed"], "failure_reason: \(done["failure_reason"] ?? "")")
                let output = try #require(done["output"] as? [[String: Any]])
                #expect(output.count == 1)
                #expect(output.first?["type"] as? String == "video")
                // A presigned-looking URL that names its expiry.
                #expect((output.first?["url"] as? String)?.hasPrefix("\(fake.baseURL)/files/\(id).mp4?expires=") == true)
                #expect(done["failure_code"] is NSNull)

                let path = try Self.download(client, done)
                defer { unlink(path) }
                #expect(try Probe.of(path) == Probe(codec: "h264", width: 960, height: 540, frames: 5 * 24))
                let match = try KeyframeMatch(clip: path, first: repositoryFile("examples/refs/sh010_a.png"),
                                              last: repositoryFile("examples/refs/sh010_b.png"), width: 960, height: 540)
                #expect(match.startsAndEndsRight, "\(match)")

                let billing = try object(client.send("GET", "/_fake/billing", auth: nil))
                #expect(Set(billing.keys) == ["luma", "fal", "luma_agents", "wavespeed"])
                #expect(billing["luma_agents"] as? [String: Int] == ["created": 1, "billed": 1])
                #expect(billing["luma"] as? [String: Int] == ["created": 0, "billed": 0])
                // A further poll neither changes the state nor bills again.
                #expect(try object(client.send("GET", "/v1/generations/\(id)"))["state"] as? String == "completed")
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma_agents"] as? [String: Int] == ["created": 1, "billed": 1])
                // The Agents id is not a Dream Machine generation, nor the other way round.
                #expect(try client.send("GET", "/dream-machine/v1/generations/\(id)").status == 404)

                #expect(try client.send("DELETE", "/v1/generations/\(id)").status == 204)
                let gone = try client.send("GET", "/v1/generations/\(id)")
                #expect(gone.status == 404)
                #expect(try object(gone)["detail"] is String)
                #expect(try client.send("GET", "/files/\(id).mp4", auth: nil).status == 404)
            }
        }
    }

    @Test func inlineFramesAndGenerationIDChaining() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let a = repositoryFile("examples/refs/sh020_a.png")
                let jpegPath = NSTemporaryDirectory() + "fake-agents-b-\(UUID()).jpg"
                defer { unlink(jpegPath) }
                let png = try Data(contentsOf: URL(fileURLWithPath: a))
                let jpeg = try jpegCopy(of: "examples/refs/sh020_b.png", to: jpegPath)

                // Inline PNG to inline JPEG, at 360p.
                let first = try Self.generate(client, Self.body(start: Self.inline(png, "image/png"), end: Self.inline(jpeg, "image/jpeg"),
                                                                resolution: "360p"))
                #expect(first["state"] as? String == "completed", "\(first["failure_reason"] ?? "")")
                let firstID = try #require(first["id"] as? String)
                let firstClip = try Self.download(client, first)
                defer { unlink(firstClip) }
                #expect(try Probe.of(firstClip) == Probe(codec: "h264", width: 640, height: 360, frames: 5 * 24))
                let inlineMatch = try KeyframeMatch(clip: firstClip, first: a, last: jpegPath, width: 640, height: 360)
                #expect(inlineMatch.startsAndEndsRight, "\(inlineMatch)")

                // Chained both ways: start on the first clip's last frame (b), end on its first frame (a).
                let chained = try Self.generate(client, Self.body(start: ["generation_id": firstID], end: ["generation_id": firstID],
                                                                  duration: "5s", resolution: "360p"))
                #expect(chained["state"] as? String == "completed", "\(chained["failure_reason"] ?? "")")
                let chainedClip = try Self.download(client, chained)
                defer { unlink(chainedClip) }
                #expect(try Probe.of(chainedClip) == Probe(codec: "h264", width: 640, height: 360, frames: 5 * 24))
                let chainMatch = try KeyframeMatch(clip: chainedClip, first: jpegPath, last: a, width: 640, height: 360)
                #expect(chainMatch.startsAndEndsRight, "\(chainMatch)")
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma_agents"] as? [String: Int] == ["created": 2, "billed": 2])
            }
        }
    }

    @Test func badBodiesAreRefusedWithAnErrorObject() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let url = ["url": "https://example.com/a.png"]
                func with(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
                    var body = Self.body(start: url)
                    change(&body)
                    return body
                }
                func withVideo(_ key: String, _ value: Any) -> [String: Any] {
                    with { body in
                        var video = body["video"] as! [String: Any]
                        video[key] = value
                        body["video"] = video
                    }
                }
                let pending = try object(client.send("POST", "/v1/generations", json: Self.body()))
                let pendingID = try #require(pending["id"] as? String)
                let cases: [(String, Any?, [UInt8]?, Int, String)] = [
                    ("missing prompt", with { $0["prompt"] = nil }, nil, 422, "prompt"),
                    ("empty prompt", with { $0["prompt"] = "" }, nil, 400, "prompt"),
                    ("long prompt", with { $0["prompt"] = String(repeating: "a", count: 6001) }, nil, 400, "6000"),
                    ("bad duration", withVideo("duration", "9s"), nil, 400, "video.duration"),
                    ("numeric duration", withVideo("duration", 5), nil, 422, "video.duration"),
                    ("bad resolution", withVideo("resolution", "4k"), nil, 400, "video.resolution"),
                    ("bad aspect", with { $0["aspect_ratio"] = "5:4" }, nil, 400, "aspect_ratio"),
                    ("aspect inside video", withVideo("aspect_ratio", "16:9"), nil, 400, "video.aspect_ratio"),
                    ("ten seconds on the legacy surface", withVideo("duration", "10s"), nil, 400, "needs video.keyframes"),
                    ("loop with end frame", with { body in
                        body["video"] = ["duration": "5s", "loop": true, "start_frame": url, "end_frame": url]
                    }, nil, 400, "loop"),
                    ("unknown top-level key", with { $0["keyframes"] = [:] as [String: Any] }, nil, 400, "keyframes"),
                    ("image field on a video", with { $0["style"] = "manga" }, nil, 400, "style"),
                    ("unknown video key", withVideo("fps", 24), nil, 400, "video.fps"),
                    ("video_edit", with { $0["type"] = "video_edit" }, nil, 400, "not supported by this fake"),
                    ("video_reframe with video fields", with { $0["type"] = "video_reframe" }, nil, 400, "not valid for type video_reframe"),
                    ("image type", with { $0["type"] = "image" }, nil, 400, "image"),
                    ("Dream Machine model", with { $0["model"] = "ray-2" }, nil, 400, "model"),
                    ("two sources", withVideo("start_frame", ["url": "https://example.com/a.png", "generation_id": pendingID]), nil, 400, "exactly one"),
                    ("no source", withVideo("start_frame", [String: Any]()), nil, 400, "exactly one"),
                    ("unknown frame key", withVideo("end_frame", ["url": "https://example.com/a.png", "type": "image"]), nil, 400, "video.end_frame.type"),
                    ("file URL", withVideo("start_frame", ["url": "file:///etc/passwd"]), nil, 400, "video.start_frame.url"),
                    ("data without media type", withVideo("start_frame", ["data": "iVBORw0KGgo="]), nil, 422, "media_type"),
                    ("data of the wrong type", withVideo("start_frame", Self.inline(Data("GIF89a....".utf8), "image/png")), nil, 400, "not a PNG"),
                    ("GIF media type", withVideo("start_frame", Self.inline(Data("GIF89a....".utf8), "image/gif")), nil, 400, "media_type"),
                    ("not base64", withVideo("start_frame", ["data": "not base64!", "media_type": "image/png"]), nil, 400, "base64"),
                    ("oversized data", withVideo("start_frame", ["data": String(repeating: "A", count: 14_000_004), "media_type": "image/png"]),
                     nil, 400, "10 MB"),
                    ("unknown generation", withVideo("start_frame", ["generation_id": UUID().uuidString]), nil, 400, "not found"),
                    ("unfinished generation", withVideo("end_frame", ["generation_id": pendingID]), nil, 400, "not completed"),
                    ("not JSON", nil, Array("{\"prompt\":".utf8), 400, "JSON"),
                ]
                for (name, json, raw, status, mention) in cases {
                    let response = try client.send("POST", "/v1/generations", json: json, raw: raw)
                    #expect(response.status == status, "\(name): \(response.status) \(response.text)")
                    let detail = try object(response)["detail"] as? String
                    #expect(detail != nil, "\(name): \(response.text)")
                    #expect((detail ?? "").contains(mention), "\(name): \(response.text)")
                }
                // Only the one valid create counted.
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma_agents"] as? [String: Int] == ["created": 1, "billed": 0])
            }
        }
    }

    @Test func credentialsAreRequiredAndUnknownIDsAreNotFound() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                for auth in [nil, "Bearer ", "Key \(FakeClient.lumaKey)"] as [String?] {
                    let response = try client.send("POST", "/v1/generations", auth: auth, json: Self.body())
                    #expect(response.status == 401, "auth \(auth ?? "none")")
                    #expect((try object(response)["detail"] as? String)?.contains("API key") == true)
                }
                #expect(try client.send("GET", "/v1/generations/\(UUID())", auth: nil).status == 401)
                for method in ["GET", "DELETE"] {
                    let missing = try client.send(method, "/v1/generations/\(UUID().uuidString.lowercased())")
                    #expect(missing.status == 404)
                    #expect((try object(missing)["detail"] as? String)?.contains("not found") == true)
                }
                #expect(try client.send("POST", "/v1/generations", json: Self.body()).status == 201)

                let log = try client.send("GET", "/_fake/requests", auth: nil)
                #expect(!log.text.contains(FakeClient.lumaKey))
                let records = try #require(try JSONSerialization.jsonObject(with: Data(log.body)) as? [[String: Any]])
                #expect(records.count == 7)
                #expect(records.first?["auth_header"] is NSNull)
                #expect(records[2]["auth_scheme"] as? String == "Key")
                #expect(records.last?["path"] as? String == "/v1/generations")
                #expect(records.last?["auth_header"] as? String == "authorization")
                #expect(records.last?["auth_scheme"] as? String == "Bearer")
                #expect(records.last?["status"] as? Int == 201)
            }
        }
    }

    @Test func faultsAndFailuresCarryTheirCodes() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                // Polls would take a status fault at the head of the plan, so each step queues its own.
                func inject(_ faults: [[String: Any]]) throws {
                    #expect(try client.send("POST", "/_fake/faults", auth: nil, json: ["next": faults]).status == 200)
                }
                try inject([["status": 429, "retry_after": 3], ["fail_generation": "moderation"]])

                let limited = try client.send("POST", "/v1/generations", json: Self.body())
                #expect(limited.status == 429)
                #expect(limited.retryAfter == .seconds(3))
                #expect(try object(limited)["detail"] is String)

                // A poll does not take the fail_generation fault; the next create does.
                #expect(try client.send("GET", "/v1/generations/\(UUID().uuidString.lowercased())").status == 404)
                let moderated = try Self.generate(client, Self.body())
                #expect(moderated["state"] as? String == "failed")
                #expect(moderated["failure_code"] as? String == "content_moderated")
                #expect(moderated["failure_reason"] as? String == FakeFault.moderationReason)
                #expect((moderated["output"] as? [Any])?.isEmpty == true)

                try inject([["status": 503], ["fail_generation": "the model tripped"]])
                let unavailable = try client.send("POST", "/v1/generations", json: Self.body())
                #expect(unavailable.status == 503)
                #expect(try object(unavailable)["detail"] is String)

                let tripped = try Self.generate(client, Self.body())
                #expect(tripped["failure_code"] as? String == "generation_failed")
                #expect(tripped["failure_reason"] as? String == "the model tripped")

                // A keyframe URL that cannot be fetched fails the generation, not the request.
                let unfetched = try Self.generate(client, Self.body(start: ["url": fake.baseURL + "/_fake/assets/missing.png"]))
                #expect(unfetched["state"] as? String == "failed")
                #expect(unfetched["failure_code"] as? String == "corrupt_input")
                #expect((unfetched["failure_reason"] as? String)?.contains("404") == true, "\(unfetched["failure_reason"] ?? "")")

                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma_agents"] as? [String: Int] == ["created": 3, "billed": 0])
            }
        }
    }
}
