import Foundation
@testable import KeyfarmFakeProvider
import KeyfarmProviders
import KeyfarmTestSupport
import Testing

/// Every way a fal request or a WaveSpeed prediction can end, made by the fake's `end_as`
/// fault and read through Keyfarm's adapters: none of them is mistaken for "still pending".
@Suite struct TerminalStateTests {
    /// Polls through an adapter until the generation is no longer pending.
    static func finish(_ status: () throws -> GenerationStatus?) throws -> GenerationStatus? {
        var last: GenerationStatus?
        let ended = try eventually(timeout: .seconds(120)) {
            last = try status()
            if case .pending? = last { return false }
            return true
        }
        guard ended else { throw FakeTestError("the generation was still pending after 120 s") }
        return last
    }

    @Test func waveSpeedEndsInEachOfTheSDKsTerminalStates() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let model = "kwaivgi/kling-v2.5-turbo-pro/image-to-video"
                let api = WaveSpeed(base: fake.baseURL + "/api/v3", model: model, key: Secret(FakeClient.wavespeedKey),
                                    client: client.http)
                let request = VideoRequest(model: model, prompt: "the tide turns", start: .url("https://example.com/a.png"),
                                           end: .url("https://example.com/b.png"), resolution: "720p", aspect: "16:9", seconds: 5)
                for state in ["cancelled", "timeout", "deleted", "failed"] {
                    let plan: [String: Any] = ["next": [["end_as": state]]]
                    #expect(try client.send("POST", "/_fake/faults", auth: nil, json: plan).status == 200)
                    let id = try api.submit(request)
                    guard case .failed(let code, let reason, let terminal)? = try Self.finish({ try api.status(of: id) }) else {
                        Issue.record("\(state): must read as failed")
                        continue
                    }
                    #expect(code == state)
                    #expect(!terminal, "\(state): a new prediction may succeed")
                    #expect(reason.contains("ended as \(state)"), "\(reason)")
                    // What the SDK reads: data.status is the state itself.
                    let raw = try object(client.send("GET", "/api/v3/predictions/\(id)/result", auth: WaveSpeedTests.auth))
                    #expect((raw["data"] as? [String: Any])?["status"] as? String == state)
                }
                #expect(try object(client.send("GET", "/_fake/billing", auth: nil))["wavespeed"] as? [String: Int]
                        == ["created": 4, "billed": 0])
                let bad = try client.send("POST", "/_fake/faults", auth: nil, json: ["next": [["end_as": "paused"]]])
                #expect(bad.status == 400)
                #expect((try object(bad)["detail"] as? String)?.contains("next[0].end_as must be one of failed, cancelled, timeout, deleted") == true)
            }
        }
    }

    /// fal ends every request COMPLETED: a failed one carries `error` and `error_type`, and the
    /// adapter reads the failure from the status without fetching a result.
    @Test func falCompletedWithAnErrorIsAFailure() async throws {
        try await withFakeProvider { fake in
            try await onThread {
                let client = try FakeClient(fake.baseURL)
                let model = FaultAndFalTests.kling
                let api = FalQueue(base: fake.baseURL, model: model, key: Secret(FakeClient.falKey), client: client.http)
                let request = VideoRequest(model: model, prompt: "a kite", start: .url("https://example.com/a.png"),
                                           resolution: "720p", aspect: "16:9", seconds: 5)
                let cases: [([String: Any], String?, Bool)] = [
                    (["end_as": "timeout"], "request_timeout", false),
                    (["end_as": "failed", "error_type": "runner_disconnected"], "runner_disconnected", false),
                    (["fail_generation": "moderation"], nil, true),
                ]
                for (fault, errorType, terminal) in cases {
                    #expect(try client.send("POST", "/_fake/faults", auth: nil, json: ["next": [fault]]).status == 200)
                    let id = try api.submit(request)
                    guard case .failed(let code, _, let isTerminal)? = try Self.finish({ try api.status(of: id) }) else {
                        Issue.record("\(fault): must read as failed")
                        continue
                    }
                    #expect(code == errorType && isTerminal == terminal, "\(fault)")
                    let status = try object(client.send("GET", "/fal-ai/kling-video/requests/\(id)/status?logs=true",
                                                        auth: "Key \(FakeClient.falKey)"))
                    #expect(status["status"] as? String == "COMPLETED")
                    #expect(status["error"] is String && status["logs"] is [Any])
                    #expect((status["error_type"] as? String) == errorType, "\(status)")
                }
                // The adapter never fetched a failed request's result.
                let requests = try #require(try JSONSerialization.jsonObject(with: Data(client.send("GET", "/_fake/requests", auth: nil).body)) as? [[String: Any]])
                #expect(!requests.contains { ($0["path"] as? String)?.hasSuffix("/status") == false && $0["method"] as? String == "GET" })
            }
        }
    }
}
