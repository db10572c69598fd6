import Foundation
import KeyfarmCore
import KeyfarmStore
import Testing

@Suite struct PriceTests {
    @Test func migrateSeedsDefaultsAndNeverOverwritesAnOperatorsPrice() throws {
        let store = try freshStore()
        let seeded = try store.prices()
        #expect(seeded.contains { $0.engine == "luma/ray-2" && $0.resolution == .p720 && $0.durationBucket == 5 && $0.credits == 71 })
        #expect(seeded.contains { $0.engine == "luma/ray-3.2" && $0.resolution == .p1080 && $0.durationBucket == 10 && $0.credits == 240 })
        #expect(seeded.allSatisfy { $0.source == "default" })
        try store.setPrice(engine: "luma/ray-2", resolution: .p720, durationBucket: 5, credits: 80, note: "our contract")
        try store.setPrice(engine: "wavespeed/kling", resolution: .p720, durationBucket: 5, credits: 20, note: "")
        #expect(try store.seedPrices() == 0)
        try store.migrate()
        let edited = try #require(try store.prices().first { $0.engine == "luma/ray-2" && $0.resolution == .p720 && $0.durationBucket == 5 })
        #expect(edited.credits == 80 && edited.source == "operator" && edited.note == "our contract")
        #expect(try store.removePrice(engine: "wavespeed/kling", resolution: .p720, durationBucket: 5))
        #expect(try !store.removePrice(engine: "wavespeed/kling", resolution: .p720, durationBucket: 5))
    }

    @Test func submitEstimatesWithTheFarmsOwnPrices() throws {
        let store = try freshStore()
        try store.setPrice(engine: "luma/ray-2", resolution: .p720, durationBucket: 5, credits: 100, note: "")
        let plan = Planner(prices: try store.priceTable()).plan(
            try ShotListDecoder(file: "c.yaml", directory: "/refs", inspector: AnyPNG()).decode(chainedList))
        #expect(plan.estimatedCredits == 200)
        _ = try store.submit(plan, sourcePath: "/c.yaml", sourceText: chainedList, replace: false)
        #expect(try store.count("SELECT estimated_credits::int AS n FROM keyfarm.shot_lists") == 200)
    }

    @Test func creditsAddUpByShotListProviderAndDay() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: chainedList, replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        let first = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        _ = try store.completeSuccess(jobID: first.jobID, attempt: 1, artifactPath: nil, artifactSHA256: nil,
                                      charge: Charge(provider: "luma", requestID: "g1", credits: 71))
        let second = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        _ = try store.completeFailure(jobID: second.jobID, attempt: 1, errorClass: .providerFailed, error: "failed",
                                      retryAfter: 0, charge: Charge(provider: "luma", requestID: "g2", credits: 71))
        let byList = try store.creditSummary(by: .shotList)
        #expect(byList.count == 1)
        #expect(byList[0].key == "default/chained")
        // The failed generation is charged and refunded: Luma's policy (keyfarm providers).
        #expect(byList[0].charged == 142 && byList[0].refunded == -71 && byList[0].net == 71)
        #expect(byList[0].estimated == 142 && byList[0].budget == 1000)
        let byProvider = try store.creditSummary(by: .provider)
        #expect(byProvider.map(\.key) == ["luma"])
        #expect(byProvider[0].net == 71)
        #expect(byProvider[0].estimated == 142)
        let byDay = try store.creditSummary(by: .day)
        #expect(byDay.count == 1 && byDay[0].net == 71)
    }
}
