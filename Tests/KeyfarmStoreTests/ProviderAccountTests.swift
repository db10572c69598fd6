import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import Testing

/// Per-provider limits in the claim, and the failed-generation policy in the ledger.
@Suite struct ProviderAccountTests {
    /// `count` independent single-segment shots on `engine` at 540p, no budget.
    func shots(_ count: Int, engine: String, name: String) -> String {
        var text = "version: 1\nname: \(name)\ndefaults:\n  engine: \(engine)\n  resolution: 540p\nshots:\n"
        for index in 0..<count {
            text += "  - id: s\(index)\n    duration: 4\n    keyframes:\n"
            text += "      - { at: 0, image: a.png, prompt: take \(index) }\n      - { at: 4, image: b.png }\n"
        }
        return text
    }

    @Test func lumasDefaultsLimitConcurrencyAndOthersGoAhead() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(shots(14, engine: "luma/ray-2", name: "luma")), sourcePath: "/l.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 32)
        let first = try store.claim(workerID: worker, capabilities: ["luma/*", "fal/*"], limit: 32, leaseSeconds: 60)
        #expect(first.count == 10, "Luma's Build tier allows 10 concurrent generations")
        #expect(try store.claim(workerID: worker, capabilities: ["luma/*"], limit: 32, leaseSeconds: 60).isEmpty)
        // fal has no limit: its jobs are claimed while Luma's wait, even at a lower priority.
        _ = try store.submit(try planned(shots(3, engine: "fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video", name: "fal")),
                             sourcePath: "/f.yaml", sourceText: "", replace: false)
        let fal = try store.claim(workerID: worker, capabilities: ["luma/*", "fal/*"], limit: 32, leaseSeconds: 60)
        #expect(fal.count == 3 && fal.allSatisfy { $0.engine?.hasPrefix("fal/") == true })
        let accounts = try store.providerAccounts()
        #expect(accounts.first { $0.provider == "luma" }?.inFlight == 10)
        #expect(accounts.first { $0.provider == "fal" }?.inFlight == 3)

        // One finishes: one more may start.
        _ = try store.completeSuccess(jobID: first[0].jobID, attempt: first[0].attempt, artifactPath: nil, artifactSHA256: nil,
                                      charge: Charge(provider: "luma", requestID: "g0", credits: 40))
        #expect(try store.claim(workerID: worker, capabilities: ["luma/*"], limit: 32, leaseSeconds: 60).count == 1)
    }

    @Test func aSuspendedProviderIsNotDispatchedUntilResumed() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(shots(2, engine: "luma/ray-2", name: "broke")), sourcePath: "/b.yaml", sourceText: "", replace: false)
        _ = try store.submit(try planned(shots(1, engine: "fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video", name: "fal")),
                             sourcePath: "/f.yaml", sourceText: "", replace: false)
        try store.suspendProvider("luma", reason: "luma answered budget_exhausted: the account's budget is spent")
        // A second suspension keeps the first one's time and reason.
        try store.suspendProvider("luma", reason: "later")
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 8)
        let claimed = try store.claim(workerID: worker, capabilities: ["luma/*", "fal/*"], limit: 8, leaseSeconds: 60)
        #expect(claimed.map(\.engine) == ["fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video"])
        let luma = try #require(try store.providerAccounts().first { $0.provider == "luma" })
        #expect(luma.suspendedAt != nil && luma.suspendedReason?.hasSuffix("the account's budget is spent") == true)
        #expect(try store.resumeProvider("luma"))
        #expect(try store.resumeProvider("luma") == false)
        #expect(try store.claim(workerID: worker, capabilities: ["luma/*"], limit: 8, leaseSeconds: 60).count == 2)
        #expect(try store.providerAccounts().allSatisfy { $0.suspendedAt == nil && $0.suspendedReason == nil })
    }

    @Test func createsPerMinuteCountsTheLastMinutesAttempts() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(shots(8, engine: "luma/ray-2", name: "rate")), sourcePath: "/r.yaml", sourceText: "", replace: false)
        try store.setProviderAccount("luma", .init(maxConcurrent: .some(nil), createsPerMinute: 5))
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 32)
        let first = try store.claim(workerID: worker, capabilities: ["luma/*"], limit: 32, leaseSeconds: 60)
        #expect(first.count == 5)
        for job in first {
            _ = try store.completeSuccess(jobID: job.jobID, attempt: job.attempt, artifactPath: nil, artifactSHA256: nil,
                                          charge: nil)
        }
        // Nothing is in flight, but five started within the minute.
        #expect(try store.claim(workerID: worker, capabilities: ["luma/*"], limit: 32, leaseSeconds: 60).isEmpty)
        // A minute later (the attempts' start moved back), the rest may go.
        try store.connection.execute("UPDATE keyfarm.attempts SET started_at = started_at - interval '61 seconds'")
        #expect(try store.claim(workerID: worker, capabilities: ["luma/*"], limit: 32, leaseSeconds: 60).count == 3)
        // Removing the limit is `none`; an operator's account for a new provider starts charged.
        try store.setProviderAccount("luma", .init(createsPerMinute: .some(nil)))
        let luma = try #require(try store.providerAccounts().first { $0.provider == "luma" })
        #expect(luma.maxConcurrent == nil && luma.createsPerMinute == nil && luma.failedGenerations == "refunded")
    }

    @Test func aFailedGenerationIsBookedByItsProvidersPolicy() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(shots(1, engine: "luma/ray-2", name: "luma")), sourcePath: "/l.yaml", sourceText: "", replace: false)
        _ = try store.submit(try planned(shots(1, engine: "fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video", name: "fal")),
                             sourcePath: "/f.yaml", sourceText: "", replace: false)
        _ = try store.submit(try planned(shots(1, engine: "wavespeed/kwaivgi/kling-v2.1-i2v-pro", name: "ws")),
                             sourcePath: "/w.yaml", sourceText: "", replace: false)
        try store.setProviderAccount("wavespeed", .init(failedGenerations: "charged"))
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 8)
        let jobs = try store.claim(workerID: worker, capabilities: ["*"], limit: 8, leaseSeconds: 60).filter { $0.kind == "segment" }
        #expect(jobs.count == 3)
        for job in jobs {
            let provider = String((job.engine ?? "").split(separator: "/")[0])
            _ = try store.completeFailure(jobID: job.jobID, attempt: job.attempt, errorClass: .providerFailed,
                                          error: "failed", retryAfter: 1, charge: Charge(provider: provider, requestID: "r-\(provider)", credits: 30))
            // A repeated result books nothing more.
            _ = try store.completeFailure(jobID: job.jobID, attempt: job.attempt, errorClass: .providerFailed,
                                          error: "failed", retryAfter: 1, charge: Charge(provider: provider, requestID: "r-\(provider)", credits: 30))
        }
        func entries(_ provider: String) throws -> [String] {
            try store.connection.execute("""
                SELECT entry || ' ' || credits AS e FROM keyfarm.credit_ledger WHERE provider = $1 AND entry IN ('charge', 'refund') ORDER BY id
                """, [provider]).rows.map { try $0.decode("e", as: String.self) }
        }
        #expect(try entries("luma") == ["charge 30", "refund -30"])
        #expect(try entries("fal") == [])
        #expect(try entries("wavespeed") == ["charge 30"])
    }
}
