import Foundation
import Testing

/// The fake's Dream Machine list of generations, driven by the official `lumaai` SDK: what a
/// worker reads when it looks for a create whose answer was lost.
@Suite(.enabled(if: !ProviderSDKs.python.unreachable, "PyPI cannot be reached, so the lumaai SDK cannot be installed"))
struct LumaDreamMachineSDKTests {
    @Test func theOfficialSDKListsTheFakesGenerationsNewestFirst() async throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("keyfarm-sdk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        try await withFakeProvider { fake in
            let results = try await ProviderSDKs.run("lumaai_check.py", base: fake.baseURL + "/dream-machine/v1", out: out)
            let made = try #require(results["created"]?["ids"] as? [String])
            #expect(made.count == 3)
            #expect(results["get"]?["prompt"] as? String == "a kite over the meadow, take 0" && results["get"]?["model"] as? String == "ray-2")
            #expect(results["get"]?["created_at"] is String)
            let first = try #require(results["first_page"]), second = try #require(results["second_page"])
            #expect(first["ids"] as? [String] == [made[2], made[1]] && first["has_more"] as? Bool == true, "\(first)")
            #expect(first["count"] as? Int == 2 && first["limit"] as? Int == 2 && first["offset"] as? Int == 0)
            #expect(first["prompts"] as? [String] == ["a kite over the meadow, take 2", "a kite over the meadow, take 1"])
            #expect(second["ids"] as? [String] == [made[0]] && second["has_more"] as? Bool == false, "\(second)")
            #expect(results["bad_limit"]?["status"] as? Int == 422)
        }
    }
}
