import Foundation
import KeyfarmProcess
import Testing

/// The fake's fal.ai queue and WaveSpeed APIs, driven by the official `fal-client` (1.0.3) and
/// `wavespeed` (2.0.5) SDKs (ops/sdk/fal_wavespeed_check.py): the SDKs accept every answer,
/// see each terminal state the way they would on the real services, and raise what they
/// would for a failure.
@Suite(.enabled(if: !ProviderSDKs.python.unreachable, "PyPI cannot be reached, so the fal-client and wavespeed SDKs cannot be installed"))
struct FalWaveSpeedSDKTests {
    @Test func theOfficialSDKsAgreeWithTheFake() async throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("keyfarm-sdk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        try await withFakeProvider { fake in
            let results = try await ProviderSDKs.run("fal_wavespeed_check.py", base: fake.baseURL, out: out)

            // fal: IN_QUEUE with its position, IN_PROGRESS with logs, COMPLETED without an error,
            // then the result's video: a 5 s clip from Kling 2.6's start_image_url/end_image_url.
            let kling = try #require(results["fal.kling26"])
            #expect(kling["ok"] as? Bool == true, "\(kling)")
            let statuses = try #require(kling["statuses"] as? [[String: Any]])
            #expect(statuses.first?["status"] as? String == "IN_QUEUE" && statuses.first?["position"] as? Int == 0)
            #expect(statuses.contains { $0["status"] as? String == "IN_PROGRESS" && ($0["logs"] as? [[String: Any]])?.isEmpty == false })
            #expect(statuses.last?["status"] as? String == "COMPLETED" && statuses.last?["error"] is NSNull)
            #expect(try Probe.of(try #require(kling["video"] as? String)).frames == 5 * 24)

            // A failed request is COMPLETED with error and error_type; get() then raises the
            // result's HTTP error carrying the same type, read from the body.
            for (name, status, errorType) in [("fal.timeout", 504, "request_timeout"), ("fal.runner_lost", 500, "runner_disconnected")] {
                let result = try #require(results[name])
                let last = (result["statuses"] as? [[String: Any]])?.last
                #expect(last?["status"] as? String == "COMPLETED" && last?["error_type"] as? String == errorType, "\(name): \(result)")
                #expect((last?["error"] as? String)?.isEmpty == false, "\(name)")
                #expect(result["error"] as? String == "FalClientHTTPError" && result["status"] as? Int == status, "\(name): \(result)")
                #expect(result["error_type"] as? String == errorType, "\(name): \(result)")
            }
            // Moderation is a model error: no error type, a 422 result.
            let moderated = try #require(results["fal.moderated"])
            #expect(moderated["status"] as? Int == 422 && moderated["error_type"] is NSNull, "\(moderated)")
            #expect((moderated["message"] as? String)?.contains("moderation") == true)
            // A 409 on submit: the SDK asks again, and one request is made.
            let conflict = try #require(results["fal.conflict_then_ok"])
            #expect(conflict["ok"] as? Bool == true && conflict["posts"] as? Int == 2, "\(conflict)")
            // Kling 2.6 has no tail_image_url: fal's validation error names the field.
            let wrong = try #require(results["fal.wrong_end_field"])
            #expect(wrong["status"] as? Int == 422 && (wrong["message"] as? String)?.contains("tail_image_url") == true, "\(wrong)")

            // WaveSpeed: submit answers HTTP 200 with the envelope; Kling 2.5 Turbo's last_image works.
            let turbo = try #require(results["ws.turbo"])
            #expect((turbo["run_no_throw"] as? [String: Any])?["status"] as? String == "completed", "\(turbo)")
            #expect(turbo["data_status"] as? String == "completed" && turbo["code"] as? Int == 200)
            #expect(try Probe.of(try #require(turbo["video"] as? String)).frames == 5 * 24)
            // Every terminal state stops the SDK's poll loop with the error it raises for it.
            for state in ["cancelled", "timeout", "deleted", "failed"] {
                let result = try #require(results["ws.\(state)"])
                #expect(result["raised"] as? String == (state == "failed" ? "_TaskFailedError" : "RuntimeError"), "\(state): \(result)")
                #expect((result["message"] as? String)?.hasPrefix("Prediction \(state) (task_id: ") == true, "\(state): \(result)")
            }
            let wrongEnd = (results["ws.wrong_end_field"]?["run_no_throw"] as? [String: Any])?["error"] as? String ?? ""
            // The SDK quotes the envelope's JSON text, quotes escaped.
            #expect(wrongEnd.contains("HTTP 400") && wrongEnd.contains(#"unknown field \"end_image\""#), "\(wrongEnd)")
            let noSuchResolution = (results["ws.540p"]?["run_no_throw"] as? [String: Any])?["error"] as? String ?? ""
            #expect(noSuchResolution.contains("resolution must be one of 1080p, 480p, 720p"), "\(noSuchResolution)")
        }
    }
}
