import Foundation
import KeyfarmTestSupport
import Testing

@Suite struct PricesCommandTests {
    @Test func listSetRemoveRateAndCredits() throws {
        let db = try TestPostgres.freshDatabase()
        #expect(keyfarm("migrate", "--database-url", db).status == 0)
        let listing = keyfarm("prices", "--json", "--database-url", db)
        #expect(listing.status == 0, "\(listing.error)")
        let prices = try #require(try listing.json()["prices"] as? [[String: Any]])
        #expect(prices.contains { $0["engine"] as? String == "luma/ray-2" && $0["credits"] as? Int == 159 && $0["resolution"] as? String == "1080p" })
        let set = keyfarm("prices", "set", "fal/fal-ai/other-model", "720p", "5", "42", "--note", "quoted", "--database-url", db)
        #expect(set.status == 0, "\(set.error)")
        #expect(keyfarm("prices", "--database-url", db).out.contains("fal/fal-ai/other-model"))
        let bad = keyfarm("prices", "set", "luma/ray-9", "720p", "5", "42", "--database-url", db)
        #expect(bad.status == 64)
        #expect(bad.error.contains("not a priced engine"))
        // HDR generations have rows of their own: ray-3.2's at two and three times a block.
        #expect(prices.contains { $0["engine"] as? String == "luma/ray-3.2+hdr" && $0["credits"] as? Int == 240 && $0["resolution"] as? String == "1080p" })
        #expect(prices.contains { $0["engine"] as? String == "luma/ray-3.2+hdr+exr" && $0["credits"] as? Int == 720 && $0["duration_bucket"] as? Int == 10 })
        #expect(keyfarm("prices", "set", "luma/ray-3.2+hdr", "720p", "5", "70", "--database-url", db).status == 0)
        let notHDR = keyfarm("prices", "set", "luma/ray-2+hdr", "720p", "5", "70", "--database-url", db)
        #expect(notHDR.status == 64 && notHDR.error.contains("luma/ray-2 cannot render HDR"), "\(notHDR.error)")
        #expect(keyfarm("prices", "remove", "fal/fal-ai/other-model", "720p", "5", "--database-url", db).status == 0)
        #expect(keyfarm("prices", "remove", "fal/fal-ai/other-model", "720p", "5", "--database-url", db).status == 66)
        #expect(keyfarm("prices", "rate", "0.02", "--database-url", db).status == 0)
        #expect(try keyfarm("prices", "--json", "--database-url", db).json()["usd_per_credit"] as? Double == 0.02)

        #expect(keyfarm("submit", example("providers.yaml"), "--database-url", db).status == 0)
        let credits = keyfarm("credits", "--by", "provider", "--json", "--database-url", db)
        #expect(credits.status == 0, "\(credits.error)")
        let document = try credits.json()
        let rows = try #require(document["rows"] as? [[String: Any]])
        #expect(Set(rows.compactMap { $0["key"] as? String }) == ["luma", "fal"])
        #expect((document["total"] as? [String: Any])?["net"] as? Int == 0)
        #expect(((document["total"] as? [String: Any])?["estimated"] as? Int ?? 0) > 0)
        #expect(keyfarm("credits", "--by", "week", "--database-url", db).status == 64)
        #expect(keyfarm("credits", "--database-url", db).out.contains("keyfarm-demo/providers"))
    }
}

@Suite struct ProvidersCommandTests {
    @Test func listSetAndRefuseBadValues() throws {
        let db = try TestPostgres.freshDatabase()
        #expect(keyfarm("migrate", "--database-url", db).status == 0)
        let listing = keyfarm("providers", "--json", "--database-url", db)
        #expect(listing.status == 0, "\(listing.error)")
        let accounts = try #require(try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [[String: Any]])
        let luma = try #require(accounts.first { $0["provider"] as? String == "luma" })
        #expect(luma["max_concurrent"] as? Int == 10 && luma["creates_per_minute"] as? Int == 20)
        #expect(luma["failed_generations"] as? String == "refunded" && luma["in_flight"] as? Int == 0)
        #expect(accounts.first { $0["provider"] as? String == "fal" }?["max_concurrent"] is NSNull)

        let set = keyfarm("providers", "set", "luma", "--max-concurrent", "25", "--creates-per-minute", "none",
                          "--failed-generations", "charged", "--database-url", db)
        #expect(set.status == 0, "\(set.error)")
        #expect(set.out.contains("at most 25 in flight, unlimited creates a minute, failed generations charged"))
        #expect(keyfarm("providers", "--database-url", db).out.contains("0/25"))

        let bad = keyfarm("providers", "set", "luma", "--max-concurrent", "0", "--database-url", db)
        #expect(bad.status == 65 && bad.error.contains("--max-concurrent: \"0\" is not a count"))
        let policy = keyfarm("providers", "set", "luma", "--failed-generations", "sometimes", "--database-url", db)
        #expect(policy.status == 65 && policy.error.contains("refunded, charged, free"))
        #expect(keyfarm("providers", "set", "luma", "--database-url", db).status == 64)
        #expect(keyfarm("providers", "set", "Luma!", "--max-concurrent", "3", "--database-url", db).status == 65)
        // Nothing changed by the refusals.
        let after = try #require(try JSONSerialization.jsonObject(with: Data(keyfarm("providers", "--json", "--database-url", db).out.utf8)) as? [[String: Any]])
        #expect(after.first { $0["provider"] as? String == "luma" }?["max_concurrent"] as? Int == 25)
    }
}

@Suite struct WorkerProviderOptionTests {
    @Test func aWorkerOfferingAProviderWithoutItsKeyRefusesToStart() {
        let noKey = keyfarm("worker", "--connect", "tcp://127.0.0.1:9", "--engines", "smoke,luma/*",
                            environment: ["LUMA_API_KEY": "", "LUMA_API_KEY_FILE": ""])
        #expect(noKey.status == 78, "\(noKey.error)")
        #expect(noKey.error.contains("--engines offers luma engines") && noKey.error.contains("LUMA_API_KEY"))
        let unknown = keyfarm("worker", "--connect", "tcp://127.0.0.1:9", "--engines", "luma/ray-9")
        #expect(unknown.status == 64 && unknown.error.contains("luma/ray-9 cannot be rendered"))
        let halfServe = keyfarm("worker", "--connect", "tcp://127.0.0.1:9", "--serve-artifacts", "127.0.0.1:0")
        #expect(halfServe.status == 64 && halfServe.error.contains("--serve-artifacts and --public-url go together"))
        let badURL = keyfarm("worker", "--connect", "tcp://127.0.0.1:9", "--serve-artifacts", "127.0.0.1:0",
                             "--public-url", "ftp://x")
        #expect(badURL.status == 64 && badURL.error.contains("--public-url must be an http(s) URL"))
        let plainHTTP = keyfarm("worker", "--connect", "tcp://127.0.0.1:9", "--engines", "fal/*",
                                environment: ["FAL_KEY": "k", "KEYFARM_FAL_API_URL": "http://fal.example.com"])
        #expect(plainHTTP.status == 78 && plainHTTP.error.contains("only https is allowed"))
    }
}
