import Foundation
import KeyfarmProcess
import KeyfarmTestSupport
import Testing

/// Provider engines end to end: `keyfarm submit`, a real coordinator and workers, the fake
/// provider as the only stand-in, videos downloaded and checksummed into the farm's storage,
/// and a ledger that agrees with what the provider billed.
@Suite struct ProviderRenderTests {
    /// A shot list with one 4-keyframe shot per engine (3 segments each), small and quick.
    static func shotList(name: String, engines: [String], budget: Int? = nil) -> String {
        let images = ["sh010_a.png", "sh010_b.png", "sh010_c.png", "sh020_a.png"].map(Refs.path)
        var yaml = """
            version: 1
            name: \(name)
            project: e2e
            \(budget.map { "budget: \($0)\n" } ?? "")defaults:
              fps: 24
              resolution: 540p
              aspect: "16:9"
              outputs: [mp4]
              max_attempts: 4
            shots:

            """
        for (index, engine) in engines.enumerated() {
            yaml += """
                  - id: sh\(index + 1)0
                    duration: 3
                    engine: \(engine)
                    keyframes:
                      - { at: 0, image: "\(images[0])", prompt: "a ball rolls across the meadow" }
                      - { at: 1, image: "\(images[1])" }
                      - { at: 2, image: "\(images[2])" }
                      - { at: 3, image: "\(images[3])" }

                """
        }
        return yaml
    }

    /// Checks every succeeded segment's artifacts on disk against their checksums.
    static func verifyArtifacts(_ provider: ProviderFarm, list: String) throws -> Int {
        var checked = 0
        for row in try provider.farm.store.connection.execute("""
            SELECT j.artifacts::text AS artifacts FROM keyfarm.jobs j JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
            WHERE l.name = $1 AND j.kind = 'segment' AND j.state = 'succeeded'
            """, [list]).rows {
            let text = try row.decode("artifacts", as: String.self)
            let artifacts = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
            #expect(artifacts.map { $0["media_type"] as? String } ==
                    ["video/mp4", "image/png", "application/vnd.keyfarm.generation+json"])
            for artifact in artifacts {
                let path = provider.storage + "/" + (artifact["path"] as? String ?? "")
                let outcome = try ChildProcess(executable: "/usr/bin/sha256sum", arguments: [path], environment: [:]).run()
                #expect(outcome.status == 0, "missing artifact \(path)")
                #expect(outcome.output.split(separator: " ").first.map(String.init) == artifact["sha256"] as? String)
            }
            let video = provider.storage + "/" + (artifacts[0]["path"] as? String ?? "")
            let probe = try ChildProcess(executable: "ffprobe", arguments: [
                "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height",
                "-of", "csv=p=0", video,
            ], environment: ProcessInfo.processInfo.environment).run()
            #expect(probe.output.hasPrefix("h264,"), "not an H.264 video: \(probe.output)")
            checked += 1
        }
        return checked
    }

    @Test func aFourKeyframeShotRendersOnEveryEngine() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            let engines = ["luma/ray-2", "luma/ray-3.2", "fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
                           "fal/fal-ai/luma-dream-machine/ray-2/image-to-video", "wavespeed/kwaivgi/kling-v2.1-i2v-pro"]
            // WaveSpeed models have no default price: the operator sets one, as the README says.
            _ = try provider.keyfarm(["prices", "set", "wavespeed/kwaivgi/kling-v2.1-i2v-pro", "540p", "5", "25"])
            _ = try provider.keyfarm(["prices", "set", "fal/fal-ai/luma-dream-machine/ray-2/image-to-video", "540p", "5", "50"])
            try provider.submit(Self.shotList(name: "engines", engines: engines), name: "engines")
            try provider.startCoordinator()
            try provider.startWorker("render-1", slots: 6)
            // Three segments per engine, except ray-3.2, which carries all four keyframes in one generation.
            let segmentJobs = 3 * engines.count - 2
            let done = try eventually(timeout: .seconds(180)) {
                try provider.segmentStates("engines")["succeeded"] == segmentJobs
            }
            let states = try provider.segmentStates("engines")
            #expect(done, "segments: \(states)\n\(provider.logs)")
            #expect(try Self.verifyArtifacts(provider, list: "engines") == segmentJobs)
            // One create per segment job, and what the ledger charged is what the provider billed.
            #expect(try provider.creates().count == segmentJobs)
            let billed = try provider.billed()
            #expect(billed["luma"] == 3 && billed["luma_agents"] == 1 && billed["fal"] == 6 && billed["wavespeed"] == 3,
                    "billed: \(billed)")
            // What each engine's segments cost by the farm's prices (the default table).
            let prices = try provider.farm.store.connection.execute("""
                SELECT COALESCE(sum(estimated_credits), 0)::int AS n FROM keyfarm.v_jobs WHERE shot_list = 'engines'
                """).rows[0].decode("n", as: Int.self)
            #expect(prices == 3 * (40 + 35 + 50 + 25) + 15)
            #expect(try provider.ledgerNet("engines") == prices)
            let credits = try provider.keyfarm(["credits", "--by", "provider", "--json"])
            #expect(credits.contains("\"luma\"") && credits.contains("\"fal\"") && credits.contains("\"wavespeed\""),
                    "credits: \(credits)")
            // No key reached a log or a table.
            let logs = provider.fullLogs
            for key in ProviderFarm.keys.values {
                #expect(!logs.contains(key), "a provider key is in a log")
                #expect(try provider.farm.count("""
                    SELECT (SELECT count(*) FROM keyfarm.jobs x WHERE x::text LIKE '%' || $1 || '%')
                         + (SELECT count(*) FROM keyfarm.attempts x WHERE x::text LIKE '%' || $1 || '%')
                         + (SELECT count(*) FROM keyfarm.credit_ledger x WHERE x::text LIKE '%' || $1 || '%')
                         + (SELECT count(*) FROM keyfarm.workers x WHERE x::text LIKE '%' || $1 || '%') AS n
                    """, [key]) == 0)
            }
        }
    }

    @Test func chainedPartsContinueTheirGenerationAndContinuityCrossesAPIs() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            // 11 s on ray-2 is two chained parts; the keyframe at 11 s has no image, so the
            // ray-3.2 segment after it starts from the chain's last frame.
            let yaml = """
                version: 1
                name: chain
                project: e2e
                defaults: { fps: 24, resolution: 540p, aspect: "16:9", outputs: [mp4] }
                shots:
                  - id: sh10
                    duration: 14
                    engine: luma/ray-2
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_a.png"))", prompt: "the ball rolls to the crate" }
                      - { at: 11 }
                      - { at: 14, image: "\(Refs.path("sh010_c.png"))" }
                    segments:
                      "1": { engine: luma/ray-3.2, prompt: "the ball stops by the crate" }
                """
            try provider.submit(yaml, name: "chain")
            try provider.startCoordinator()
            try provider.startWorker("chainer", slots: 3)
            let done = try eventually(timeout: .seconds(240)) { try provider.segmentStates("chain")["succeeded"] == 3 }
            #expect(done, "\(provider.logs)")
            #expect(try Self.verifyArtifacts(provider, list: "chain") == 3)
            #expect(try provider.creates().count == 3)
            let ids = try Dictionary(uniqueKeysWithValues: provider.farm.store.connection.execute("""
                SELECT job_key, provider_request_id FROM keyfarm.v_attempts WHERE shot_list = 'chain' AND outcome = 'succeeded'
                """).rows.map { (try $0.decode("job_key", as: String.self), try $0.decode("provider_request_id", as: String.self)) })
            // The second part continued the first by generation id: no frame was re-uploaded.
            let second = try #require(try provider.fakeJSON("/dream-machine/v1/generations/\(ids["sh10/s0p2"] ?? "")",
                                                            authorization: "Bearer any") as? [String: Any])
            let request = try #require(second["request"] as? [String: Any])
            let frame0 = (request["keyframes"] as? [String: Any])?["frame0"] as? [String: Any]
            #expect(frame0?["type"] as? String == "generation" && frame0?["id"] as? String == ids["sh10/s0p1"],
                    "frame0 of the second part: \(String(describing: frame0))")
            #expect(try provider.billed()["luma"] == 2 && provider.billed()["luma_agents"] == 1)
        }
    }
}
