import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import Testing

@Suite struct BudgetTests {
    /// Five independent luma/ray-2 segments at 720p: each estimated at 71 credits (a 5 s clip).
    func fiveSegments(name: String = "five", budget: Int? = 213, project: String = "acme") -> String {
        var text = "version: 1\nname: \(name)\nproject: \(project)\n" + (budget.map { "budget: \($0)\n" } ?? "")
        text += "defaults:\n  engine: luma/ray-2\n  resolution: 720p\nshots:\n  - id: sh010\n    duration: 20\n    keyframes:\n"
        for k in 0...5 { text += "      - at: \(k * 4)\n        image: k\(k).png\n        prompt: frame \(k)\n" }
        return text
    }

    func claimAll(_ store: FarmStore, worker: Int64) throws -> [ClaimedJob] {
        try store.claim(workerID: worker, capabilities: ["luma/*", "stitch"], limit: 8, leaseSeconds: 60)
    }

    @Test func aBudgetThatFitsThreeOfFiveBlocksTwoUntilRaised() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(fiveSegments()), sourcePath: "/five.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 8)
        let first = try claimAll(store, worker: worker)
        #expect(first.count == 3)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'blocked'") == 2)
        let reason = try store.connection.execute("SELECT blocked_reason FROM keyfarm.jobs WHERE state = 'blocked' LIMIT 1")
            .rows[0].decode("blocked_reason", as: String.self)
        #expect(reason == "budget: needs 71 credits, 0 of the shot list's 213 left")
        var list = try #require(try store.shotLists().first)
        #expect(list.reservedCredits == 213)
        #expect(list.jobsBlocked == 2)
        let detail = try store.shotListDetail(name: "five", project: nil)
        #expect(detail.jobs.filter { $0.state == "blocked" }.allSatisfy { $0.lastError?.hasPrefix("budget:") == true })

        for (index, job) in first.enumerated() {
            _ = try store.completeSuccess(jobID: job.jobID, attempt: job.attempt, artifactPath: nil, artifactSHA256: nil,
                                          charge: Charge(provider: "luma", requestID: "gen-\(index)", credits: 71))
        }
        list = try #require(try store.shotLists().first)
        #expect(list.spentCredits == 213 && list.reservedCredits == 0)
        #expect(try claimAll(store, worker: worker).isEmpty)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'blocked'") == 2)

        _ = try store.setBudget(shotList: "five", project: nil, credits: 355)
        let rest = try claimAll(store, worker: worker)
        #expect(rest.count == 2)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'blocked'") == 0)
        let summary = try #require(try store.creditSummary(by: .shotList).first)
        #expect(summary.net == 213 && summary.reserved == 142 && summary.budget == 355)
        // The ledger holds every step: 5 reservations, 3 charges, 3 releases so far.
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.credit_ledger WHERE entry = 'reserve'") == 5)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.credit_ledger WHERE entry = 'release'") == 3)
    }

    @Test func aCheaperChargeFreesBudgetAndUnblocksAtOnce() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(fiveSegments()), sourcePath: "/five.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 8)
        let first = try claimAll(store, worker: worker)
        #expect(first.count == 3)
        // The provider refunded a failed generation: nothing spent, its reservation ends.
        _ = try store.completeFailure(jobID: first[0].jobID, attempt: first[0].attempt, errorClass: .providerFailed,
                                      error: "failed", retryAfter: 3600)
        // Both blocked jobs are offered again; the claim takes the one that fits and blocks the other.
        #expect(try claimAll(store, worker: worker).count == 1)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'blocked'") == 1)
    }

    @Test func projectBudgetsSpanShotListsAndCancelReleases() throws {
        let store = try freshStore()
        try store.setBudget(project: "acme", credits: 142)
        _ = try store.submit(try planned(fiveSegments(name: "a", budget: nil)), sourcePath: "/a.yaml", sourceText: "", replace: false)
        _ = try store.submit(try planned(fiveSegments(name: "b", budget: nil)), sourcePath: "/b.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 8)
        #expect(try claimAll(store, worker: worker).count == 2)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'blocked'") >= 6)
        let reason = try store.connection.execute("SELECT blocked_reason FROM keyfarm.jobs WHERE state = 'blocked' LIMIT 1")
            .rows[0].decode("blocked_reason", as: String.self)
        #expect(reason.hasPrefix("project budget: needs 71 credits"))
        #expect(try store.projectBudgets().first?.reserved == 142)
        let cancelled = try store.cancel(name: "a", project: "acme")
        #expect(cancelled.interruptedJobs >= 1)
        #expect(try store.count("SELECT COALESCE(sum(reserved_credits), 0)::int AS n FROM keyfarm.shot_lists WHERE name = 'a'") == 0)
        try store.setBudget(project: "acme", credits: nil)
        #expect(try claimAll(store, worker: worker).count > 0)
    }

    @Test func theLedgerIsAppendOnly() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(fiveSegments()), sourcePath: "/five.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 8)
        _ = try claimAll(store, worker: worker)
        #expect(throws: PostgresError.self) { try store.connection.execute("UPDATE keyfarm.credit_ledger SET credits = 0") }
        #expect(throws: PostgresError.self) { try store.connection.execute("DELETE FROM keyfarm.credit_ledger") }
    }
}
