import Foundation
import KeyfarmStore
import KeyfarmTestSupport
import Testing

/// Attempt timeouts and stall timeouts end to end: the coordinator cancels an overdue attempt
/// on its worker, records it as `timeout` or `stalled`, and the retry finishes the job; a
/// provider request the stopped attempt submitted is resumed, never created or paid for twice.
@Suite(.serialized) struct TimeoutTests {
    @Test func aStalledAttemptIsCancelledOnItsWorkerAndTheRetrySucceeds() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.smoke("stall", jobs: 1, ms: 300)
            // The first attempt sits silent for a minute; the second runs as the job says.
            try farm.mergeSpec("stall", #"{"by_attempt": {"1": {"ms": 60000, "progress": false}}}"#)
            try farm.startCoordinator(["--stall-timeout", "2s"])
            try farm.startWorker("lonely", slots: 1)
            let done = try eventually(timeout: .seconds(60)) { try farm.succeeded("stall") == 1 }
            #expect(done, "\(farm.logs)")
            let attempts = try farm.attempts("stall")
            #expect(attempts.map(\.outcome) == ["failed", "succeeded"], "\(attempts)\n\(farm.logs)")
            if let first = attempts.first {
                #expect(first.errorClass == "stalled")
                #expect(first.error?.contains("no progress reported for 2s") == true, "\(first)")
                // Stopped once silent for 2 s, long before its minute was up.
                #expect(first.seconds >= 2 && first.seconds < 20, "\(first)")
            }
            // Both ran on the one-slot worker: the stopped attempt gave its slot back.
            #expect(attempts.allSatisfy { $0.worker == "lonely" })
            #expect(try farm.count("SELECT running_jobs AS n FROM keyfarm.v_workers WHERE name = 'lonely'") == 0)
            #expect(farm.coordinator?.log.contains("stopping an overdue attempt") == true)
        }
    }

    @Test func anAttemptPastItsTimeoutIsRetriedWhileAnEngineWithALongerOneIsLeftAlone() async throws {
        try await offPool {
            // A generation takes 3 s at the fake: longer than the default timeout, within luma's.
            let provider = try ProviderFarm(stepMilliseconds: 1500)
            try provider.farm.smoke("slow", jobs: 1, ms: 200)
            // The first attempt reports progress for a minute: not stalled, but past 2 s.
            try provider.farm.mergeSpec("slow", #"{"by_attempt": {"1": {"ms": 60000}}}"#)
            try provider.submit(ProviderFaultTests.singleSegmentShots(name: "patient", count: 1), name: "patient")
            try provider.startCoordinator(["--attempt-timeout", "2s", "--attempt-timeout", "luma=1m"])
            try provider.startWorker("both", slots: 2, engines: "smoke,luma/*")
            let done = try eventually(timeout: .seconds(120)) {
                try provider.farm.succeeded("slow") == 1 && provider.segmentStates("patient")["succeeded"] == 1
            }
            #expect(done, "\(provider.logs)")
            let smoke = try provider.farm.attempts("slow")
            #expect(smoke.map(\.outcome) == ["failed", "succeeded"], "\(smoke)")
            #expect(smoke.first?.errorClass == "timeout")
            #expect(smoke.first?.error?.contains("attempt timeout of 2s") == true, "\(smoke)")
            let segment = try provider.farm.attempts("patient")
            #expect(segment.count == 1 && segment.first?.outcome == "succeeded", "\(segment)")
            #expect((segment.first?.seconds ?? 0) > 2, "the provider attempt was quicker than the default timeout: \(segment)")
        }
    }

    @Test func aProviderAttemptThatTimesOutIsResumedByTheNextWithOneCreateAndOneCharge() async throws {
        try await offPool {
            // Generations complete 8 s after their create; luma attempts may run 6 s.
            let provider = try ProviderFarm(stepMilliseconds: 4000)
            let yaml = ProviderFaultTests.singleSegmentShots(name: "resumed", count: 1)
                .replacingOccurrences(of: "max_attempts: 3", with: "max_attempts: 5")
            try provider.submit(yaml, name: "resumed")
            try provider.startCoordinator(["--attempt-timeout", "luma/*=6s"])
            try provider.startWorker("poller", slots: 1)
            let done = try eventually(timeout: .seconds(180)) { try provider.segmentStates("resumed")["succeeded"] == 1 }
            #expect(done, "\(provider.logs)")
            let attempts = try provider.farm.attempts("resumed")
            #expect(attempts.count >= 2, "\(attempts)")
            if let first = attempts.first {
                #expect(first.outcome == "failed" && first.errorClass == "timeout", "\(first)")
                // Stopped before the generation could have completed at the fake.
                #expect(first.seconds < 8, "\(first)")
            }
            #expect(attempts.last?.outcome == "succeeded")
            let ids = attempts.map(\.providerRequestID)
            #expect(ids.allSatisfy { $0 != nil } && Set(ids).count == 1, "the retry did not resume the request: \(ids)")
            #expect(try provider.creates().count == 1, "the provider was asked to create twice")
            #expect(try provider.billed()["luma"] == 1)
            #expect(try provider.ledgerNet("resumed") == 40)
            #expect(try provider.farm.count("""
                SELECT count(*) AS n FROM keyfarm.credit_ledger c JOIN keyfarm.shot_lists l ON l.id = c.shot_list_id
                WHERE l.name = 'resumed' AND c.entry = 'charge'
                """) == 1)
        }
    }
}

extension AttemptRecord {
    /// From the claim to the recorded outcome; -1 while it runs.
    var seconds: Double { finishedAt.map { $0.timeIntervalSince(startedAt) } ?? -1 }
}

extension Farm {
    /// Adds keys to the specs of a shot list's jobs (before a coordinator claims them).
    func mergeSpec(_ list: String, _ json: String) throws {
        try store.connection.execute("""
            UPDATE keyfarm.jobs j SET spec = j.spec || $2::jsonb FROM keyfarm.shot_lists l
            WHERE l.id = j.shot_list_id AND l.name = $1
            """, [list, json])
    }

    /// The attempts of a shot list's jobs other than stitches, job by job, oldest first.
    func attempts(_ list: String) throws -> [AttemptRecord] {
        try store.connection.execute("SELECT id FROM keyfarm.v_jobs WHERE shot_list = $1 AND kind <> 'stitch' ORDER BY id",
                                     [list]).rows.flatMap { try store.attempts(jobID: try $0.decode("id")) }
    }
}
