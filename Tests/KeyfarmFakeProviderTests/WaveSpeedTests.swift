import Foundation
@testable import KeyfarmFakeProvider
import KeyfarmProviders
import Testing

/// The fake's WaveSpeed API (`/api/v3`), driven over real HTTP with Keyfarm's own libcurl client.
@Suite struct WaveSpeedTests {
    static let kling = "kwaivgi/kling-v2.1-i2v-pro"
    static let wan = "wavespeed-ai/wan-2.2/i2v-480p"
    static let auth = "Bearer \(FakeClient.wavespeedKey)"

    /// Submits to `model` and returns the prediction (`data`) after checking the envelope.
    static func submit(_ client: FakeClient, _ model: String, _ body: [String: Any]) throws -> [String: Any] {
        let response = try client.send("POST", "/api/v3/\(model)", auth: auth, json: body)
        let envelope = try object(response)
        guard response.status == 200, envelope["code"] as? Int == 200, envelope["message"] as? String == "success",
              let prediction = envelope["data"] as? [String: Any] else {
            throw FakeTestError("submit answered \(response.status): \(response.text)")
        }
        return prediction
    }

    /// Polls a prediction's result URL to the end; returns the last prediction and the statuses seen.
    static func finish(_ client: FakeClient, _ prediction: [String: Any]) throws -> (last: [String: Any], states: [String]) {
        let url = try #require((prediction["urls"] as? [String: Any])?["get"] as? String)
        return try client.poll(url, auth: auth, key: "status", in: "data") { $0 == "completed" || $0 == "failed" }
    }

    static func download(_ client: FakeClient, _ prediction: [String: Any]) throws -> String {
        let url = try #require((prediction["outputs"] as? [String])?.first)
        let path = NSTemporaryDirectory() + "fake-wavespeed-\(prediction["id"] as? String ?? "x").mp4"
        _ = try client.http.download(url, to: path)
        return path
    }

    @Test func klingPredictionFromTwoImageURLsRendersTheClip() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let first = try client.upload("examples/refs/sh010_a.png", as: "a.png")
                let last = try client.upload("examples/refs/sh010_b.png", as: "b.png")
                let prediction = try Self.submit(client, Self.kling, [
                    "prompt": "slow push in", "image": first, "end_image": last, "duration": 5, "resolution": "480p",
                    "aspect_ratio": "16:9", "seed": 42, "negative_prompt": "blur",
                ])
                #expect(Set(prediction.keys) == ["id", "model", "status", "outputs", "urls", "has_nsfw_contents", "created_at",
                                                 "error", "timings"])
                let id = try #require(prediction["id"] as? String)
                #expect(id.count == 32 && id.allSatisfy(\.isHexDigit), "\(id)")
                #expect(prediction["model"] as? String == Self.kling)
                #expect(prediction["status"] as? String == "created")
                #expect((prediction["outputs"] as? [Any])?.isEmpty == true)
                #expect((prediction["has_nsfw_contents"] as? [Any])?.isEmpty == true)
                #expect(prediction["error"] as? String == "")
                #expect((prediction["created_at"] as? String)?.hasSuffix("Z") == true)
                #expect((prediction["urls"] as? [String: Any])?["get"] as? String == "\(fake.baseURL)/api/v3/predictions/\(id)/result")

                let (done, states) = try Self.finish(client, prediction)
                #expect(states == ["processing", "completed"], "error: \(done["error"] ?? "")")
                #expect(done["outputs"] as? [String] == ["\(fake.baseURL)/files/\(id).mp4"])
                #expect(done["error"] as? String == "")
                #expect(((done["timings"] as? [String: Any])?["inference"] as? Int ?? 0) > 0)

                let path = try Self.download(client, done)
                defer { unlink(path) }
                #expect(try Probe.of(path) == Probe(codec: "h264", width: 854, height: 480, frames: 5 * 24))
                let match = try KeyframeMatch(clip: path, first: repositoryFile("examples/refs/sh010_a.png"),
                                              last: repositoryFile("examples/refs/sh010_b.png"), width: 854, height: 480)
                #expect(match.startsAndEndsRight, "\(match)")

                let billing = try object(client.send("GET", "/_fake/billing", auth: nil))
                #expect(billing["wavespeed"] as? [String: Int] == ["created": 1, "billed": 1])
                _ = try Self.finish(client, prediction)
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["wavespeed"] as? [String: Int] == ["created": 1, "billed": 1])

                let log = try client.send("GET", "/_fake/requests", auth: nil)
                #expect(!log.text.contains(FakeClient.wavespeedKey))
                let records = try #require(try JSONSerialization.jsonObject(with: Data(log.body)) as? [[String: Any]])
                let create = try #require(records.first { $0["method"] as? String == "POST" })
                #expect(create["path"] as? String == "/api/v3/\(Self.kling)")
                #expect(create["auth_scheme"] as? String == "Bearer")
                #expect(create["status"] as? Int == 200)
            }
        }
    }

    @Test func dataURIsAndLastImageOnOtherModels() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let a = repositoryFile("examples/refs/sh020_a.png")
                let jpegPath = NSTemporaryDirectory() + "fake-wavespeed-b-\(UUID()).jpg"
                defer { unlink(jpegPath) }
                let png = try Data(contentsOf: URL(fileURLWithPath: a))
                let jpeg = try jpegCopy(of: "examples/refs/sh020_b.png", to: jpegPath)
                // No resolution field: the model id's -480p names it.
                let prediction = try Self.submit(client, Self.wan, [
                    "prompt": "the tide comes in", "image": "data:image/png;base64,\(png.base64EncodedString())",
                    "last_image": "data:image/jpeg;base64,\(jpeg.base64EncodedString())", "duration": 10,
                ])
                let (done, _) = try Self.finish(client, prediction)
                #expect(done["status"] as? String == "completed", "error: \(done["error"] ?? "")")
                let path = try Self.download(client, done)
                defer { unlink(path) }
                #expect(try Probe.of(path) == Probe(codec: "h264", width: 854, height: 480, frames: 10 * 24))
                let match = try KeyframeMatch(clip: path, first: a, last: jpegPath, width: 854, height: 480)
                #expect(match.startsAndEndsRight, "\(match)")
            }
        }
    }

    @Test func badSubmissionsAreRefusedInTheEnvelope() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let image = "https://example.com/a.png"
                let good: [String: Any] = ["prompt": "slow push in", "image": image, "duration": 5, "resolution": "480p"]
                func with(_ key: String, _ value: Any?) -> [String: Any] {
                    var body = good
                    body[key] = value
                    return body
                }
                let cases: [(String, String, Any?, [UInt8]?, String)] = [
                    ("last_image on kling", Self.kling, with("last_image", image), nil, "unknown field \"last_image\""),
                    ("end_image on wan", Self.wan, with("end_image", image), nil, "unknown field \"end_image\""),
                    ("tail_image_url", Self.kling, with("tail_image_url", image), nil, "unknown field"),
                    ("missing prompt", Self.kling, with("prompt", nil), nil, "prompt"),
                    ("empty prompt", Self.kling, with("prompt", ""), nil, "prompt"),
                    ("duration 7", Self.kling, with("duration", 7), nil, "duration"),
                    ("duration as a string", Self.kling, with("duration", "5"), nil, "duration"),
                    ("duration as a fraction", Self.kling, with("duration", 5.5), nil, "duration"),
                    ("duration as a boolean", Self.kling, with("duration", true), nil, "duration"),
                    ("4k", Self.kling, with("resolution", "4k"), nil, "resolution"),
                    ("bad aspect", Self.kling, with("aspect_ratio", "2:1"), nil, "aspect_ratio"),
                    ("string seed", Self.kling, with("seed", "42"), nil, "seed"),
                    ("missing image on i2v", Self.kling, with("image", nil), nil, "image is required"),
                    ("file URL image", Self.wan, with("image", "file:///etc/passwd"), nil, "image"),
                    ("GIF data URI", Self.wan, with("image", "data:image/gif;base64,R0lGODlh"), nil, "image/gif"),
                    ("mislabelled data URI", Self.wan, with("image", "data:image/png;base64,/9j/4AAQSkZJRg=="), nil, "not a PNG"),
                    ("data URI without base64", Self.wan, with("image", "data:image/png,abc"), nil, "data URI"),
                    ("not JSON", Self.kling, nil, Array("{\"prompt\":".utf8), "JSON"),
                ]
                for (name, model, json, raw, mention) in cases {
                    let response = try client.send("POST", "/api/v3/\(model)", auth: Self.auth, json: json, raw: raw)
                    #expect(response.status == 400, "\(name): \(response.status) \(response.text)")
                    let body = try object(response)
                    #expect(body["code"] as? Int == 400, "\(name): \(response.text)")
                    #expect(body["data"] is NSNull, "\(name): \(response.text)")
                    #expect((body["message"] as? String ?? "").contains(mention), "\(name): \(response.text)")
                }
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["wavespeed"] as? [String: Int] == ["created": 0, "billed": 0])
            }
        }
    }

    @Test func credentialsAreRequiredAndUnknownPredictionsAreNotFound() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let body: [String: Any] = ["prompt": "p", "image": "https://example.com/a.png", "duration": 5]
                for auth in [nil, "Bearer ", "Key \(FakeClient.wavespeedKey)"] as [String?] {
                    let response = try client.send("POST", "/api/v3/\(Self.kling)", auth: auth, json: body)
                    #expect(response.status == 401, "auth \(auth ?? "none")")
                    let error = try object(response)
                    #expect(error["code"] as? Int == 401)
                    #expect(error["data"] is NSNull)
                }
                let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
                #expect(try client.send("GET", "/api/v3/predictions/\(id)/result", auth: nil).status == 401)
                let missing = try client.send("GET", "/api/v3/predictions/\(id)/result", auth: Self.auth)
                #expect(missing.status == 404)
                let error = try object(missing)
                #expect(error["code"] as? Int == 404)
                #expect(error["message"] as? String == "prediction not found")
                #expect(error["data"] is NSNull)
                #expect(!(try client.send("GET", "/_fake/requests", auth: nil).text.contains(FakeClient.wavespeedKey)))
            }
        }
    }

    @Test func faultsAndFailedPredictions() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let plan: [String: Any] = ["next": [["status": 429, "retry_after": 2], ["fail_generation": "content flagged by the safety checker"]]]
                #expect(try client.send("POST", "/_fake/faults", auth: nil, json: plan).status == 200)
                let body: [String: Any] = ["prompt": "a storm rolls in", "duration": 5, "resolution": "480p"]
                let model = "wavespeed-ai/wan-2.2/t2v-480p"

                let limited = try client.send("POST", "/api/v3/\(model)", auth: Self.auth, json: body)
                #expect(limited.status == 429)
                #expect(limited.retryAfter == .seconds(2))
                let error = try object(limited)
                #expect(error["code"] as? Int == 429)
                #expect(error["message"] is String)
                #expect(error["data"] is NSNull)

                // A poll does not take the fail_generation fault; the next submission does.
                let unknown = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
                #expect(try client.send("GET", "/api/v3/predictions/\(unknown)/result", auth: Self.auth).status == 404)
                // A text-to-video model needs no image.
                let prediction = try Self.submit(client, model, body)
                let (done, states) = try Self.finish(client, prediction)
                #expect(states == ["processing", "failed"])
                #expect(done["error"] as? String == "content flagged by the safety checker")
                #expect((done["outputs"] as? [Any])?.isEmpty == true)
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["wavespeed"] as? [String: Int] == ["created": 1, "billed": 0])
            }
        }
    }
}
