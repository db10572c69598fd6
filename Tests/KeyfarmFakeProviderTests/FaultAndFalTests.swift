import Foundation
@testable import KeyfarmFakeProvider
import KeyfarmProviders
import Testing

/// Fault injection, reset, and the fake's fal.ai queue API.
@Suite struct FaultAndFalTests {
    static let kling = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video"

    @Test func faultsApplyToTheNextRequestsInOrder() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let plan: [String: Any] = ["next": [["status": 429, "retry_after": 2], ["status": 503], ["malformed": true],
                                                    ["hang_ms": 300]], "latency_ms": 0]
                #expect(try client.send("POST", "/_fake/faults", auth: nil, json: plan).status == 200)
                let create = { try client.send("POST", "/dream-machine/v1/generations/video", json: LumaDreamMachineTests.body()) }

                let limited = try create()
                #expect(limited.status == 429)
                #expect(limited.retryAfter == .seconds(2))
                #expect(try object(limited)["detail"] is String)
                #expect(try create().status == 503)
                let malformed = try create()
                #expect(malformed.status == 200)
                #expect((try? JSONSerialization.jsonObject(with: Data(malformed.body))) == nil)
                let started = ContinuousClock.now
                let slow = try create()
                #expect(slow.status == 201)
                #expect(ContinuousClock.now - started >= .milliseconds(300))
                #expect(try create().status == 201)
                // Faulted requests created nothing; the two that got through did.
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma"] as? [String: Int] == ["created": 2, "billed": 0])

                let bad = try client.send("POST", "/_fake/faults", auth: nil, json: ["next": [["status": "soon"]]])
                #expect(bad.status == 400)
                #expect((try object(bad)["detail"] as? String)?.contains("next[0].status") == true)
            }
        }
    }

    /// Random faults at the rates asked for, the same sequence for the same seed, failed
    /// generations only on creates, and bad rates refused with the field named.
    @Test func faultRatesInjectSeededRandomFaults() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                // Polls of a generation that does not exist: 404 unless a fault answers first.
                func run(seed: Int) throws -> [Int] {
                    let rates: [String: Any] = ["5xx": 0.2, "429": 0.1, "fail_generation": 1, "seed": seed]
                    #expect(try client.send("POST", "/_fake/faults", auth: nil, json: ["rates": rates]).status == 200)
                    return try (0..<100).map { _ in
                        try client.send("GET", "/dream-machine/v1/generations/\(UUID().uuidString.lowercased())").status
                    }
                }
                #expect(try run(seed: 8) != run(seed: 7))
                let statuses = try run(seed: 7)
                let injected = try object(client.send("GET", "/_fake/faults", auth: nil))["injected"] as? [String: Int]
                #expect(try run(seed: 7) == statuses, "the same seed gives the same faults")
                let errors = statuses.filter { $0 >= 500 }.count, limited = statuses.filter { $0 == 429 }.count
                #expect((8...35).contains(errors), "about 20% of 100 answered 5xx: \(errors)")
                #expect((2...22).contains(limited), "about 10% answered 429: \(limited)")
                #expect(statuses.allSatisfy { [404, 429, 500, 502, 503].contains($0) })
                #expect(injected == ["5xx": errors, "429": limited], "polls draw no failed generation")

                // Every create that gets through fails at the provider, unbilled.
                let rates: [String: Any] = ["fail_generation": 1]
                #expect(try client.send("POST", "/_fake/faults", auth: nil, json: ["rates": rates]).status == 200)
                let created = try client.send("POST", "/dream-machine/v1/generations/video", json: LumaDreamMachineTests.body())
                #expect(created.status == 201)
                let id = try #require(try object(created)["id"] as? String)
                let (done, _) = try client.poll("/dream-machine/v1/generations/\(id)", key: "state") { $0 == "completed" || $0 == "failed" }
                #expect(done["state"] as? String == "failed")
                #expect(try object(client.send("GET", "/_fake/faults", auth: nil))["injected"] as? [String: Int] == ["fail_generation": 1])

                for (rates, field) in [(["5xx": 1.5], "rates.5xx"), (["5xx": 0.8, "429": 0.5], "together"),
                                       (["teapot": 0.1], "rates.teapot"), (["seed": -1], "rates.seed")] as [([String: Any], String)] {
                    let bad = try client.send("POST", "/_fake/faults", auth: nil, json: ["rates": rates])
                    #expect(bad.status == 400)
                    #expect((try object(bad)["detail"] as? String)?.contains(field) == true, "\(rates)")
                }
            }
        }
    }

    @Test func failGenerationWaitsForACreateAndIsNotBilled() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                _ = try client.send("POST", "/_fake/faults", auth: nil, json: ["next": [["fail_generation": "moderation"]]])
                #expect(try client.send("GET", "/dream-machine/v1/generations/\(UUID().uuidString.lowercased())").status == 404)
                let created = try client.send("POST", "/dream-machine/v1/generations/video", json: LumaDreamMachineTests.body())
                #expect(created.status == 201)
                let id = try #require(try object(created)["id"] as? String)
                let (done, states) = try client.poll("/dream-machine/v1/generations/\(id)", key: "state") { $0 == "completed" || $0 == "failed" }
                #expect(states == ["dreaming", "failed"])
                #expect((done["failure_reason"] as? String)?.contains("moderation") == true)
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma"] as? [String: Int] == ["created": 1, "billed": 0])

                #expect(try client.send("POST", "/_fake/reset", auth: nil).status == 200)
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["luma"] as? [String: Int] == ["created": 0, "billed": 0])
                #expect(try client.send("GET", "/dream-machine/v1/generations/\(id)").status == 404)
            }
        }
    }

    /// fal's COMPLETED covers failures too: the status carries `error` and `error_type`. A 5xx
    /// result without fal's error type (a gateway hiccup, as the chaos run injects) is asked
    /// again and the stored video is found.
    @Test func falResultErrorsAreFailuresOnlyWithFalsErrorType() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let fal = FalQueue(base: fake.baseURL, model: Self.kling, key: Secret(FakeClient.falKey), client: client.http)
                let image = try client.upload("examples/refs/sh020_a.png", as: "a.png")
                let request = VideoRequest(model: Self.kling, prompt: "a kite", start: .url(image), resolution: "540p", aspect: "16:9", seconds: 5)
                // The fake renders each clip with ffmpeg: on a busy machine that takes a while.
                func finish(_ id: String) throws -> GenerationStatus? {
                    let deadline = ContinuousClock.now + .seconds(120)
                    while ContinuousClock.now < deadline {
                        guard let status = try fal.status(of: id) else { return nil }
                        if case .pending = status { usleep(100_000); continue }
                        return status
                    }
                    return nil
                }

                _ = try client.send("POST", "/_fake/faults", auth: nil, json: ["next": [["fail_generation": "the model crashed"]]])
                guard case .failed(let code, let reason, let terminal)? = try finish(try fal.submit(request)) else {
                    Issue.record("a failed request must read as failed")
                    return
                }
                // Read from the COMPLETED status itself, which carries fal's error and error type.
                #expect(code == "runner_server_error" && !terminal)
                #expect(reason.contains("the model crashed") && reason.contains("runner_server_error"))

                let id = try fal.submit(request)
                // The status poll passes, the result fetch after it gets a bare 502.
                let deadline = ContinuousClock.now + .seconds(120)
                while ContinuousClock.now < deadline {
                    let status = try client.send("GET", "/fal-ai/kling-video/requests/\(id)/status",
                                                 auth: "Key \(FakeClient.falKey)")
                    if (try object(status)["status"] as? String) == "COMPLETED" { break }
                    usleep(100_000)
                }
                _ = try client.send("POST", "/_fake/faults", auth: nil, json: ["next": [["hang_ms": 0], ["status": 502]]])
                do {
                    _ = try fal.status(of: id)
                    Issue.record("a bare 502 on the result must be thrown, to be asked again")
                } catch let verdict as ProviderErrorClassifier.Verdict {
                    #expect(verdict.errorClass == .transient && verdict.status == 502 && verdict.providerErrorType == nil)
                }
                guard case .completed? = try fal.status(of: id) else {
                    Issue.record("asked again, the stored result is found")
                    return
                }
            }
        }
    }

    @Test func falQueueSubmitStatusAndResult() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let auth = "Key \(FakeClient.falKey)"
                let first = try client.upload("examples/refs/sh020_a.png", as: "a.png")
                let last = try client.upload("examples/refs/sh020_b.png", as: "b.png")
                let input: [String: Any] = ["prompt": "slow push in", "image_url": first, "tail_image_url": last, "duration": "5"]
                #expect(try client.send("POST", "/\(Self.kling)", auth: "Bearer x", json: input).status == 401)
                var noImage = input
                noImage["image_url"] = nil
                let invalid = try client.send("POST", "/\(Self.kling)", auth: auth, json: noImage)
                #expect(invalid.status == 422)
                #expect(invalid.text.contains("image_url"))
                var badDuration = input
                badDuration["duration"] = "7"
                #expect(try client.send("POST", "/\(Self.kling)", auth: auth, json: badDuration).status == 422)

                let submitted = try object(client.send("POST", "/\(Self.kling)", auth: auth, json: input))
                let id = try #require(submitted["request_id"] as? String)
                let statusURL = try #require(submitted["status_url"] as? String)
                #expect(statusURL == "\(fake.baseURL)/fal-ai/kling-video/requests/\(id)/status")
                #expect(submitted["response_url"] as? String == "\(fake.baseURL)/fal-ai/kling-video/requests/\(id)")
                #expect(try client.send("GET", try #require(submitted["response_url"] as? String), auth: auth).status == 400)

                let (_, states) = try client.poll(statusURL, auth: auth, key: "status") { $0 == "COMPLETED" }
                #expect(states == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"])
                let result = try object(client.send("GET", try #require(submitted["response_url"] as? String), auth: auth))
                let video = try #require(result["video"] as? [String: Any])
                #expect(video["content_type"] as? String == "video/mp4")
                let url = try #require(video["url"] as? String)
                let path = NSTemporaryDirectory() + "fake-fal-\(id).mp4"
                defer { unlink(path) }
                let file = try client.http.download(url, to: path)
                #expect(Int(file.bytes) == video["file_size"] as? Int)
                #expect(try Probe.of(path) == Probe(codec: "h264", width: 960, height: 540, frames: 5 * 24))
                let billing = try object(client.send("GET", "/_fake/billing", auth: nil))
                #expect(billing["fal"] as? [String: Int] == ["created": 1, "billed": 1])
                #expect(billing["luma"] as? [String: Int] == ["created": 0, "billed": 0])
                #expect(!(try client.send("GET", "/_fake/requests", auth: nil).text.contains(FakeClient.falKey)))
            }
        }
    }
}
