import Foundation
import KeyfarmCore
import KeyfarmStore
import Testing

@Suite struct DispatchStoreTests {
    /// Three segment jobs of one shot, all ready at once.
    let threeSegments = wideList(name: "three", shots: 1, segments: 3)

    @Test func aWorkerThatFailsAShotThreeTimesIsNotGivenItAgain() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(threeSegments), sourcePath: "/t.yaml", sourceText: "", replace: false)
        let bad = try store.registerWorker(name: "bad", host: nil, version: nil, engines: ["*"], slots: 1)
        let good = try store.registerWorker(name: "good", host: nil, version: nil, engines: ["*"], slots: 1)
        for round in 1...3 {
            let job = try #require(try store.claim(workerID: bad, capabilities: ["interpolate"], limit: 1, leaseSeconds: 30).first)
            _ = try store.completeFailure(jobID: job.jobID, attempt: job.attempt, errorClass: .transient,
                                          error: "disk full (round \(round))", retryAfter: 0)
        }
        #expect(try store.claim(workerID: bad, capabilities: ["interpolate"], limit: 3, leaseSeconds: 30).isEmpty)
        #expect(try store.claim(workerID: good, capabilities: ["interpolate"], limit: 3, leaseSeconds: 30).count == 3)
        let workers = try store.workers()
        #expect(workers.first { $0.name == "bad" }?.blocklistedShots == ["three/s0"])
        #expect(workers.first { $0.name == "good" }?.blocklistedShots == [])
        #expect(try store.shotListDetail(name: "three", project: nil).shots[0].blocklistedWorkers == ["bad"])
    }

    /// The chaos run found this: with the blocked worker's slot first, the job was paired with
    /// it on every claim and never ran, though another worker sat idle.
    @Test func aJobPairedWithABlockedWorkerGoesToAnotherFreeSlot() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(threeSegments), sourcePath: "/t.yaml", sourceText: "", replace: false)
        let bad = try store.registerWorker(name: "bad", host: nil, version: nil, engines: ["*"], slots: 1)
        let good = try store.registerWorker(name: "good", host: nil, version: nil, engines: ["*"], slots: 1)
        let other = try store.registerWorker(name: "other", host: nil, version: nil, engines: ["*"], slots: 1)
        for round in 1...3 {
            let job = try #require(try store.claim(workerID: bad, capabilities: ["interpolate"], limit: 1, leaseSeconds: 30).first)
            _ = try store.completeFailure(jobID: job.jobID, attempt: job.attempt, errorClass: .transient,
                                          error: "disk full (round \(round))", retryAfter: 0)
        }
        // Three jobs of the shot, slots [bad, good, other]: the first job cannot go to bad, so
        // it (or another) takes a slot left over; two jobs run, none goes to bad.
        let first = try store.claim(slots: [bad, good, other], capabilities: ["interpolate"], leaseSeconds: 30)
        #expect(first.count == 2)
        #expect(Set(first.map(\.workerID)) == [good, other])
        // One job left and only the blocked worker's slot first: it still runs, on good.
        let second = try store.claim(slots: [bad, good], capabilities: ["interpolate"], leaseSeconds: 30)
        #expect(second.map(\.workerID) == [good])
        #expect(try store.claim(slots: [bad], capabilities: ["interpolate"], leaseSeconds: 30).isEmpty)
    }

    @Test func rateLimitsAndLostWorkersDoNotCountTowardsTheBlocklist() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(threeSegments), sourcePath: "/t.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 1)
        for errorClass in [ErrorClass.rateLimited, .lost, .rateLimited] {
            let job = try #require(try store.claim(workerID: worker, capabilities: ["interpolate"], limit: 1, leaseSeconds: 30).first)
            _ = try store.completeFailure(jobID: job.jobID, attempt: job.attempt, errorClass: errorClass, error: "x", retryAfter: 0)
        }
        #expect(try store.claim(workerID: worker, capabilities: ["interpolate"], limit: 1, leaseSeconds: 30).count == 1)
    }

    @Test func dependantsReceiveTheirDependenciesArtifactsAsInputs() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        let first = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        #expect(!first.spec.contains("inputs"))
        _ = try store.completeSuccess(jobID: first.jobID, attempt: 1, artifactPath: "chained/sh010/s0.mp4", artifactSHA256: "ab",
                                      charge: nil, artifactsJSON: #"[{"bytes": 10, "media_type": "video/mp4", "path": "chained/sh010/s0.mp4", "sha256": "ab"}]"#)
        let second = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        let spec = try #require(try JSONSerialization.jsonObject(with: Data(second.spec.utf8)) as? [String: Any])
        let inputs = try #require(spec["inputs"] as? [String: [[String: Any]]])
        #expect(inputs["sh010/s0"]?.first?["path"] as? String == "chained/sh010/s0.mp4")
        #expect(inputs["sh010/s0"]?.first?["bytes"] as? Int == 10)
    }

    @Test func retryGivesFailedJobsAFreshRoundAndTheirDependantsWaitAgain() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        let job = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        _ = try store.completeFailure(jobID: job.jobID, attempt: 1, errorClass: .invalid, error: "bad prompt", retryAfter: nil)
        #expect(try store.jobState("sh010/stitch") == "failed")
        #expect(try store.retryFailed(name: "chained", project: nil, jobKey: nil) == 3)
        #expect(try store.jobState("sh010/s0") == "queued")
        #expect(try store.jobState("sh010/s1") == "waiting")
        #expect(try store.jobState("sh010/stitch") == "waiting")
        let again = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        #expect(again.attempt == 2 && again.attemptInRound == 1)
        // Two failures in the new round exhaust max_attempts (2) again.
        _ = try store.completeFailure(jobID: again.jobID, attempt: 2, errorClass: .transient, error: "503", retryAfter: 0)
        let third = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        let outcome = try store.completeFailure(jobID: third.jobID, attempt: 3, errorClass: .transient, error: "503", retryAfter: 0)
        guard case .failed = outcome else { Issue.record("expected failure, got \(outcome)"); return }
        #expect(try store.retryFailed(name: "chained", project: nil, jobKey: nil) == 3)
    }

    @Test func aHandedBackJobIsRequeuedWithoutCostingAnAttempt() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        let job = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        let outcome = try store.handBack(jobID: job.jobID, attempt: 1, providerRequestID: "gen-42")
        guard case .retrying = outcome else { Issue.record("expected a requeue, got \(outcome)"); return }
        let again = try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first)
        #expect(again.attempt == 2)
        #expect(again.attemptInRound == 1)
        #expect(again.resumeProviderRequestID == "gen-42")
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE outcome = 'handed_back' AND provider_request_id = 'gen-42'") == 1)
    }

    @Test func aRequestIsResumedAfterAPassingFailureButNeverAfterTheProviderFailedIt() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        try store.connection.execute("UPDATE keyfarm.jobs SET max_attempts = 5")
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        func next() throws -> ClaimedJob { try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first) }
        let luma = { (id: String) in Charge(provider: "luma", requestID: id, credits: 0) }
        // 1: handed back with gen-1 -> 2 resumes it; a download failure (transient) -> 3 resumes it again.
        let first = try next()
        _ = try store.handBack(jobID: first.jobID, attempt: 1, providerRequestID: "gen-1")
        let second = try next()
        #expect(second.resumeProviderRequestID == "gen-1")
        _ = try store.completeFailure(jobID: second.jobID, attempt: 2, errorClass: .transient, error: "download failed",
                                      retryAfter: 0, charge: luma("gen-1"))
        let third = try next()
        #expect(third.resumeProviderRequestID == "gen-1")
        // 3: the provider says gen-1 failed -> 4 creates anew, though attempt 1 handed gen-1 back.
        _ = try store.completeFailure(jobID: third.jobID, attempt: 3, errorClass: .providerFailed, error: "failed",
                                      retryAfter: 0, charge: luma("gen-1"))
        let fourth = try next()
        #expect(fourth.resumeProviderRequestID == nil)
    }

    @Test func anOperatorsRetryResumesTheStuckRequestUnlessFresh() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/c.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 4)
        func next() throws -> ClaimedJob { try #require(try store.claim(workerID: worker, capabilities: ["*"], limit: 1, leaseSeconds: 30).first) }
        let luma = Charge(provider: "luma", requestID: "gen-stuck", credits: 0)
        // Both attempts (max_attempts 2) time out on the same generation, which never finishes.
        for attempt in 1...2 {
            let job = try next()
            #expect(job.resumeProviderRequestID == (attempt == 1 ? nil : "gen-stuck"))
            _ = try store.completeFailure(jobID: job.jobID, attempt: attempt, errorClass: .timeout, error: "ran past 2h",
                                          retryAfter: 0, charge: luma)
            try store.connection.execute("UPDATE keyfarm.jobs SET not_before = now()")
        }
        #expect(try store.jobState("sh010/s0") == "failed")
        // A plain retry resumes it once more; --fresh gives it up and creates anew.
        #expect(try store.retryFailed(name: "chained", project: nil, jobKey: "sh010/s0") == 1)
        let resumed = try next()
        #expect(resumed.resumeProviderRequestID == "gen-stuck")
        _ = try store.completeFailure(jobID: resumed.jobID, attempt: resumed.attempt, errorClass: .timeout, error: "ran past 2h",
                                      retryAfter: 0, charge: luma)
        try store.connection.execute("UPDATE keyfarm.jobs SET not_before = now()")
        _ = try store.completeFailure(jobID: try next().jobID, attempt: 4, errorClass: .timeout, error: "ran past 2h",
                                      retryAfter: 0, charge: luma)
        #expect(try store.jobState("sh010/s0") == "failed")
        #expect(try store.retryFailed(name: "chained", project: nil, jobKey: "sh010/s0", fresh: true) == 1)
        let fresh = try next()
        #expect(fresh.attempt == 5)
        #expect(fresh.resumeProviderRequestID == nil)
        // Its own request, once submitted, is resumed by the attempts after it as usual.
        _ = try store.completeFailure(jobID: fresh.jobID, attempt: 5, errorClass: .transient, error: "download failed",
                                      retryAfter: 0, charge: Charge(provider: "luma", requestID: "gen-new", credits: 0))
        try store.connection.execute("UPDATE keyfarm.jobs SET not_before = now()")
        #expect(try next().resumeProviderRequestID == "gen-new")
    }
}
