import Foundation
import KeyfarmCore
import KeyfarmStore
import Testing

/// What the database does with attempts the coordinator stopped for a timeout.
@Suite struct TimeoutStoreTests {
    @Test func aTimedOutAttemptsRequestIsResumedAndItsLateResultOnlyBooksItsCreditsOnce() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        try store.connection.execute("UPDATE keyfarm.jobs SET max_attempts = 5")
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        func next() throws -> ClaimedJob { try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first) }
        let first = try next()
        try store.recordProviderRequest(AttemptRef(jobID: first.jobID, attempt: 1), provider: "luma", requestID: "gen-7")
        let stopped = try store.completeFailure(jobID: first.jobID, attempt: 1, errorClass: .timeout,
                                                error: "stopped by the coordinator: still running after the attempt timeout of 30m",
                                                retryAfter: 0)
        guard case .retrying = stopped else { Issue.record("expected a retry, got \(stopped)"); return }
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE error_class = 'timeout' AND outcome = 'failed'") == 1)

        // The stopped attempt's RESULT comes late, a success with its charge: stale, the charge booked once.
        let charge = Charge(provider: "luma", requestID: "gen-7", credits: 71)
        #expect(try store.completeSuccess(jobID: first.jobID, attempt: 1, artifactPath: "late.mp4", artifactSHA256: "00",
                                          charge: charge) == .stale)
        #expect(try store.jobState(first.key) == "queued")

        let second = try next()
        #expect(second.jobID == first.jobID && second.attempt == 2)
        #expect(second.resumeProviderRequestID == "gen-7")
        guard case .applied = try store.completeSuccess(jobID: second.jobID, attempt: 2, artifactPath: "v.mp4",
                                                        artifactSHA256: "01", charge: charge) else {
            Issue.record("the resuming attempt did not complete the job"); return
        }
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.credit_ledger WHERE entry = 'charge' AND provider_request_id = 'gen-7'") == 1)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE outcome = 'succeeded'") == 1)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE error_class = 'timeout'") == 1,
                "the late success rewrote the stopped attempt")
    }

    @Test func stallsCountTowardsTheBlocklistAndTimeoutsDoNot() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(wideList(name: "three", shots: 1, segments: 3)), sourcePath: "/t.yaml",
                             sourceText: "", replace: false)
        let slow = try store.registerWorker(name: "slow", host: nil, version: nil, engines: ["*"], slots: 1)
        for errorClass in [ErrorClass.timeout, .timeout, .timeout, .stalled, .stalled] {
            let job = try #require(try store.claim(workerID: slow, capabilities: ["interpolate"], limit: 1, leaseSeconds: 30).first)
            _ = try store.completeFailure(jobID: job.jobID, attempt: job.attempt, errorClass: errorClass, error: "x", retryAfter: 0)
        }
        #expect(try store.claim(workerID: slow, capabilities: ["interpolate"], limit: 1, leaseSeconds: 30).count == 1)
        let job = try #require(try store.claim(workerID: slow, capabilities: ["interpolate"], limit: 1, leaseSeconds: 30).first)
        _ = try store.completeFailure(jobID: job.jobID, attempt: job.attempt, errorClass: .stalled, error: "x", retryAfter: 0)
        #expect(try store.claim(workerID: slow, capabilities: ["interpolate"], limit: 1, leaseSeconds: 30).isEmpty,
                "three stalls did not keep the worker away from the shot")
    }
}
