import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmTestSupport
import Synchronization
import Testing

@Suite struct ClaimTests {
    @Test func eightConcurrentClaimersNeverReceiveTheSameJob() throws {
        let conninfo = try TestPostgres.freshDatabase()
        let setup = try FarmStore(conninfo: conninfo, logger: testLogger)
        try setup.migrator.migrate()
        let plan = try planned(wideList(shots: 20, segments: 10))
        _ = try setup.submit(plan, sourcePath: "/wide.yaml", sourceText: "", replace: false)
        let ready = try setup.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'queued'")
        #expect(ready == 200)

        let claimed = Mutex<[Int64]>([])
        try withThreads(8) { index in
            let store = try FarmStore(conninfo: conninfo, logger: testLogger)
            let worker = try store.registerWorker(name: "w\(index)", host: nil, version: nil, engines: ["*"], slots: 3)
            // Bounded: 200 jobs in batches of 3 need at most 67 claims from one thread.
            for _ in 0..<100 {
                let batch = try store.claim(workerID: worker, capabilities: ["interpolate"], limit: 3, leaseSeconds: 60)
                if batch.isEmpty { break }
                claimed.withLock { $0 += batch.map(\.jobID) }
            }
        }
        let ids = claimed.withLock { $0 }
        #expect(ids.count == 200)
        #expect(Set(ids).count == 200, "a job was claimed twice")
        #expect(try setup.count("SELECT count(*) AS n FROM keyfarm.attempts") == 200)
        #expect(try setup.count("SELECT count(DISTINCT worker_id) AS n FROM keyfarm.attempts") > 1)
        #expect(try setup.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'leased' AND attempts = 1") == 200)
    }

    @Test func completionsLookJobsUpByIdWhateverTheStatisticsSay() throws {
        let store = try freshStore()
        _ = try store.enqueueSmoke(name: "many", project: "p", count: 3_000, milliseconds: 0, failRate: 0, priority: 50,
                                   maxAttempts: 1, replace: false)
        // Statistics from before anything was out with a worker, as after a large submit.
        try store.connection.execute("ANALYZE keyfarm.jobs")
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["smoke"], slots: 2_000)
        let leased = try store.claim(slots: Array(repeating: worker, count: 2_000), capabilities: ["smoke"], leaseSeconds: 60)
        #expect(leased.count == 2_000)
        let batch = leased.prefix(256).map(\.job)
        let parameters: [any PostgresBindable] = [batch.map(\.jobID), batch.map(\.attempt), batch.map { _ in "" },
                                                  batch.map { _ in "" }, batch.map { _ in "[]" }, batch.map { _ in Int64(0) },
                                                  batch.map { _ in Int64(0) }]
        let plan = try store.connection.execute("EXPLAIN " + FarmStore.completeSuccessesSQL, parameters).rows
            .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
        // Each job by its primary key, never a walk of the in-flight indexes per job of the batch
        // (80 ms instead of 5 for 256 jobs with 2,300 out, before `keyfarm.state_in`).
        #expect(plan.contains("jobs_pkey"), "\(plan)")
        #expect(!plan.contains("jobs_in_flight_by_requirement") && !plan.contains("jobs_leased"), "\(plan)")
        let done = try store.completeSuccesses(batch.map {
            (ref: AttemptRef(jobID: $0.jobID, attempt: $0.attempt), artifactPath: nil, artifactSHA256: nil, artifactsJSON: "[]",
             receivedAtMicroseconds: 0, reusedFromAttemptID: 0)
        })
        #expect(done == 256)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'succeeded'") == 256)
    }

    @Test func claimsFollowPriorityThenAgeAndCapabilities() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(wideList(name: "low", shots: 1, segments: 2, priority: 10)),
                             sourcePath: "/low.yaml", sourceText: "", replace: false)
        _ = try store.submit(try planned(wideList(name: "high", shots: 1, segments: 2, priority: 90)),
                             sourcePath: "/high.yaml", sourceText: "", replace: false)
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["interpolate"], slots: 8)
        let local = try store.claim(workerID: worker, capabilities: ["interpolate"], limit: 8, leaseSeconds: 30)
        #expect(local.map(\.priority) == [90, 90, 10, 10])
        #expect(local.allSatisfy { $0.engine == "interpolate" && $0.attempt == 1 })
        #expect(try store.claim(workerID: worker, capabilities: ["fal/*", "stitch"], limit: 8, leaseSeconds: 30).isEmpty)
        let luma = try store.claim(workerID: worker, capabilities: ["luma/*"], limit: 8, leaseSeconds: 30)
        #expect(luma.map(\.key) == ["sh010/s0"])
        #expect(luma[0].spec.contains("\"engine\": \"luma/ray-2\""))
        #expect(luma[0].leaseExpiresAt > Date())
    }

    @Test func successReleasesDependantsInTheSameTransaction() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        let first = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 4, leaseSeconds: 30).first)
        #expect(first.key == "sh010/s0")
        let done = try store.completeSuccess(jobID: first.jobID, attempt: first.attempt, artifactPath: "/farm/s0.mp4",
                                             artifactSHA256: "ab", charge: Charge(provider: "luma", requestID: "gen-1", credits: 71))
        guard case .applied(let released) = done else { Issue.record("expected applied, got \(done)"); return }
        #expect(released.count == 1)
        #expect(try store.jobState("sh010/s1") == "queued")
        #expect(try store.jobState("sh010/stitch") == "waiting")
        // A second report of the same result changes nothing and charges nothing more.
        let repeated = try store.completeSuccess(jobID: first.jobID, attempt: first.attempt, artifactPath: "/farm/s0.mp4",
                                                 artifactSHA256: "ab", charge: Charge(provider: "luma", requestID: "gen-1", credits: 71))
        #expect(repeated == .stale)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.credit_ledger WHERE entry = 'charge'") == 1)

        let second = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 4, leaseSeconds: 30).first)
        #expect(second.key == "sh010/s1")
        _ = try store.completeSuccess(jobID: second.jobID, attempt: 1, artifactPath: "/farm/s1.mp4", artifactSHA256: "cd",
                                      charge: Charge(provider: "luma", requestID: "gen-2", credits: 71))
        #expect(try store.jobState("sh010/stitch") == "queued")
        let stitch = try #require(try store.claim(workerID: worker, capabilities: ["stitch"], limit: 4, leaseSeconds: 30).first)
        _ = try store.completeSuccess(jobID: stitch.jobID, attempt: 1, artifactPath: "/farm/sh010", artifactSHA256: nil, charge: nil)
        let list = try #require(try store.shotLists().first)
        #expect(list.state == "succeeded")
        #expect(list.spentCredits == 142)
        #expect(list.progress == 1)
        let detail = try store.shotListDetail(name: "chained", project: nil)
        #expect(detail.shots.map(\.state) == ["succeeded"])
        #expect(detail.jobs.map(\.spentCredits) == [71, 71, 0])
        let spend = try store.connection.execute("SELECT engine, charged_credits, net_credits, estimated_credits FROM keyfarm.v_credit_spend").rows
        #expect(spend.count == 1)
        #expect(try spend[0].decode("net_credits", as: Int.self) == 142)
        #expect(try spend[0].decode("estimated_credits", as: Int.self) == 142)
    }

    @Test func failuresRetryWithBackOffThenFailWithTheirDependants() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        let first = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        let retry = try store.completeFailure(jobID: first.jobID, attempt: 1, errorClass: .transient,
                                              error: "HTTP 503 from luma", retryAfter: 3600)
        guard case .retrying(let notBefore) = retry else { Issue.record("expected a retry, got \(retry)"); return }
        #expect(notBefore > Date().addingTimeInterval(3000))
        // Not claimable before its time; the dashboard shows it as retry_wait.
        #expect(try store.claim(workerID: worker, capabilities: ["*"], limit: 4, leaseSeconds: 30).isEmpty)
        #expect(try store.shotListDetail(name: "chained", project: nil).jobs[0].state == "retry_wait")
        try store.connection.execute("UPDATE keyfarm.jobs SET not_before = now() WHERE id = $1", [first.jobID])
        let again = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        #expect(again.jobID == first.jobID && again.attempt == 2)
        // max_attempts is 2: even a retryable error now fails the job, and its dependants with it.
        let final = try store.completeFailure(jobID: again.jobID, attempt: 2, errorClass: .transient,
                                              error: "HTTP 503 from luma", retryAfter: 2)
        guard case .failed(let alsoFailed) = final else { Issue.record("expected failure, got \(final)"); return }
        #expect(alsoFailed.count == 2)
        #expect(try store.jobState("sh010/s1") == "failed")
        #expect(try store.jobState("sh010/stitch") == "failed")
        let detail = try store.shotListDetail(name: "chained", project: nil)
        #expect(detail.shots[0].state == "failed")
        #expect(detail.shots[0].failure == "sh010/s0: HTTP 503 from luma (after 2 of 2 attempts)")
        #expect(detail.list.state == "failed")
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE outcome = 'failed' AND error_class = 'transient'") == 2)
        // A late result for the first attempt is stale.
        #expect(try store.completeSuccess(jobID: first.jobID, attempt: 1, artifactPath: nil, artifactSHA256: nil, charge: nil) == .stale)
    }

    /// Workers killed under a job do not use up its attempts (the chaos run failed jobs that
    /// way, with generations billed and never charged); losing it too often still fails it.
    @Test func lostAttemptsDoNotUseUpMaxAttemptsButAreCappedUntilAnOperatorRetries() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        // Some thirty attempts in a few seconds: more than Luma's default 20 creates a minute.
        try store.connection.execute("UPDATE keyfarm.provider_accounts SET creates_per_minute = NULL WHERE provider = 'luma'")
        func claimFirst() throws -> ClaimedJob {
            try store.connection.execute("UPDATE keyfarm.jobs SET not_before = now()")
            return try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        }
        /// Claims the job and loses the attempt; whether the job was queued again.
        func loseNext() throws -> Bool {
            let job = try claimFirst()
            let outcome = try store.completeFailure(jobID: job.jobID, attempt: job.attempt, errorClass: .lost,
                                                    error: "worker w lost", retryAfter: 0)
            if case .retrying = outcome { return true }
            return false
        }
        func lastError() throws -> String? {
            try store.connection.execute("SELECT last_error FROM keyfarm.jobs WHERE job_key = 'sh010/s0'")
                .rows[0].decode("last_error", as: String?.self)
        }
        // max_attempts is 2; five losses, then one transient failure still leaves a retry.
        for loss in 1...5 { #expect(try loseNext(), "loss \(loss) must be retried") }
        let job = try claimFirst()
        #expect(job.attempt == 6 && job.attemptInRound == 1)
        guard case .retrying = try store.completeFailure(jobID: job.jobID, attempt: job.attempt, errorClass: .transient,
                                                         error: "HTTP 503", retryAfter: 0) else {
            Issue.record("the first counted failure must be retried")
            return
        }
        // Lost up to the cap (ten in all), then the next loss fails it and says why.
        for loss in 6...RetryPolicy.maxLostAttempts { #expect(try loseNext(), "loss \(loss) must be retried") }
        #expect(try !loseNext(), "the eleventh loss must fail the job")
        let failure = try store.shotListDetail(name: "chained", project: nil).shots[0].failure
        #expect(failure == "sh010/s0: worker w lost (lost 11 times; workers vanish while running it)")

        // `keyfarm retry` starts the count again: ten more losses are retried, the eleventh fails it.
        #expect(try store.retryFailed(name: "chained", project: nil, jobKey: "sh010/s0") == 1)
        for loss in 1...RetryPolicy.maxLostAttempts { #expect(try loseNext(), "loss \(loss) after the retry must be retried") }
        #expect(try !loseNext(), "the eleventh loss since the retry must fail the job")
        #expect(try lastError() == "worker w lost (lost 11 times; workers vanish while running it)", "counted since the retry")
    }

    @Test func invalidErrorsAreTerminalAtOnce() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        let job = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        let outcome = try store.completeFailure(jobID: job.jobID, attempt: 1, errorClass: .invalid,
                                                error: "HTTP 422: prompt rejected", retryAfter: nil)
        #expect(outcome == .failed(alsoFailed: try store.connection.execute(
            "SELECT id FROM keyfarm.jobs WHERE job_key <> 'sh010/s0' ORDER BY id").rows.map { try $0.decode("id", as: Int64.self) }))
        #expect(try store.shotListDetail(name: "chained", project: nil).shots[0].failure == "sh010/s0: HTTP 422: prompt rejected")
    }
}
