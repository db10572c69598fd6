import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import Testing

/// Content-addressed reuse in the store: a resubmission's jobs whose request keys match a
/// succeeded job of the project take its artifacts; a reuse that cannot be honoured renders.
@Suite struct ReuseStoreTests {
    /// Three luma segments: s0 a->b, s1 b->(no image), s2 continues from s1 to c.
    static func list(_ prompt1: String = "walks in", _ prompt2: String = "turns", reuse: Bool = true,
                     second: String = "close") -> String {
        """
        version: 1
        name: rev
        defaults: { engine: luma/ray-2, resolution: 720p, reuse: \(reuse) }
        shots:
          - id: sh010
            duration: 12
            keyframes:
              - { at: 0, image: a.png, prompt: "wide" }
              - { at: 4, image: b.png, prompt: "\(prompt1)" }
              - { at: 8, prompt: "\(prompt2)" }
              - { at: 12, image: c.png }
          - id: sh020
            duration: 4
            keyframes:
              - { at: 0, image: a.png, prompt: "\(second)" }
              - { at: 4, image: b.png }
        """
    }

    /// Claims and completes every job of the farm until none is left, as a worker would:
    /// provider jobs charge their estimate, reused jobs report their source.
    static func renderAll(_ store: FarmStore) throws {
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 8)
        for _ in 0..<20 {
            let claimed = try store.claim(workerID: worker, capabilities: ["*"], limit: 8, leaseSeconds: 30)
            if claimed.isEmpty { return }
            for job in claimed {
                let spec = try JSONSerialization.jsonObject(with: Data(job.spec.utf8)) as! [String: Any]
                if let reuse = spec["reuse"] as? [String: Any] {
                    let artifacts = try JSONSerialization.data(withJSONObject: reuse["artifacts"]!)
                    try store.completeSuccesses([(ref: AttemptRef(jobID: job.jobID, attempt: job.attempt),
                                                  artifactPath: nil, artifactSHA256: nil,
                                                  artifactsJSON: String(decoding: artifacts, as: UTF8.self),
                                                  receivedAtMicroseconds: 0,
                                                  reusedFromAttemptID: (reuse["attempt_id"] as! NSNumber).int64Value)])
                    continue
                }
                let path = "p/\(job.shotList)/\(job.key)/attempt-\(job.attempt).mp4"
                let credits = (spec["estimated_credits"] as? NSNumber)?.int64Value ?? 0
                _ = try store.completeSuccess(jobID: job.jobID, attempt: job.attempt, artifactPath: path,
                                              artifactSHA256: "ab",
                                              charge: job.engine == nil ? nil
                                                  : Charge(provider: "luma", requestID: "gen-\(job.jobID)", credits: credits),
                                              artifactsJSON: #"[{"path":"\#(path)","sha256":"ab","media_type":"video/mp4"}]"#)
            }
        }
        Issue.record("the farm did not finish in 20 rounds")
    }

    static func submit(_ store: FarmStore, _ text: String, replace: Bool = true, reuse: Bool = true) throws -> SubmitReceipt {
        try store.submit(try planned(text), sourcePath: "/rev.yaml", sourceText: text, replace: replace, reuse: reuse)
    }

    @Test func anEditedPromptReusesEveryOtherGenerationAndOnlyTheRestCosts() throws {
        let store = try freshStore()
        let first = try Self.submit(store, Self.list(), replace: false)
        #expect(first.revision == 1 && first.reused.isEmpty && first.estimatedCredits == 4 * 71)
        try Self.renderAll(store)
        let charged = try store.count("SELECT count(*) AS n FROM keyfarm.credit_ledger WHERE entry = 'charge'")
        #expect(charged == 4)

        // The third keyframe's prompt changes: s2 (its segment) renders; s0, s1 and all of sh020 are reused.
        let edited = Self.list("walks in", "turns back")
        let preview = try store.reuseSources(project: "default", jobs: try planned(edited).jobs)
        let second = try Self.submit(store, edited)
        #expect(second.revision == 2 && second.replacedID == first.shotListID)
        #expect(Set(second.reused.map(\.jobKey)) == ["sh010/s0", "sh010/s1", "sh020/s0", "sh020/stitch"])
        #expect(Dictionary(uniqueKeysWithValues: second.reused.map { ($0.jobKey, $0) }) == preview)
        #expect(second.reused.allSatisfy { $0.shotList == "rev" && $0.revision == 1 && $0.attempt == 1 })
        #expect(second.estimatedCredits == 71)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE shot_list_id = $1 AND reusing",
                                [second.shotListID]) == 4)

        try Self.renderAll(store)
        // One new charge (s2), none for the reused jobs; their attempts name their sources.
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.credit_ledger WHERE entry = 'charge'") == charged + 1)
        let reused = try store.connection.execute("""
            SELECT job_key, reused_from_job_key, reused_from_revision, provider FROM keyfarm.v_attempts
            WHERE shot_list = 'rev' AND outcome = 'reused' ORDER BY job_key
            """).rows
        #expect(try reused.map { try $0.decode("job_key", as: String.self) } == ["sh010/s0", "sh010/s1", "sh020/s0", "sh020/stitch"])
        #expect(try reused.allSatisfy { try $0.decode("reused_from_job_key", as: String.self) == $0.decode("job_key", as: String.self) })
        #expect(try reused.allSatisfy { try $0.decode("reused_from_revision", as: Int.self) == 1 })
        #expect(try reused.allSatisfy { try $0.decode("provider", as: String?.self) == nil })
        // The reused jobs hand their sources' artifacts to what follows them.
        let artifacts = try store.connection.execute("""
            SELECT artifacts->0->>'path' AS path FROM keyfarm.jobs WHERE shot_list_id = $1 AND job_key = 'sh010/s1'
            """, [second.shotListID]).rows[0].decode("path", as: String.self)
        #expect(artifacts == "p/rev/sh010/s1/attempt-1.mp4")

        let revision = try store.connection.execute("""
            SELECT revision, shots_changed, changed_shots, jobs_reuse_planned, jobs_reused, jobs_rendered, estimated_credits,
                   spent_credits
            FROM keyfarm.v_revisions WHERE shot_list_id = $1
            """, [second.shotListID]).rows[0]
        #expect(try revision.decode("revision", as: Int.self) == 2)
        #expect(try revision.decode("shots_changed", as: Int.self) == 1)
        #expect(try revision.decode("changed_shots", as: [String].self) == ["sh010"])
        #expect(try revision.decode("jobs_reuse_planned", as: Int.self) == 4)
        #expect(try revision.decode("jobs_reused", as: Int.self) == 4)
        #expect(try revision.decode("jobs_rendered", as: Int.self) == 1)
        #expect(try revision.decode("spent_credits", as: Int.self) == 71)

        // A third revision reuses the second's reuse: the source is still the attempt that rendered.
        let third = try Self.submit(store, edited)
        #expect(third.reused.count == 6)
        #expect(third.reused.first { $0.jobKey == "sh010/s0" }?.revision == 1)
        #expect(third.reused.first { $0.jobKey == "sh010/s2" }?.revision == 2)
        #expect(third.estimatedCredits == 0)
    }

    @Test func noReuseAndReuseFalseRenderEverything() throws {
        let store = try freshStore()
        _ = try Self.submit(store, Self.list(), replace: false)
        try Self.renderAll(store)
        #expect(try Self.submit(store, Self.list(), reuse: false).reused.isEmpty)
        let perShot = try Self.submit(store, Self.list(reuse: false))
        #expect(perShot.reused.isEmpty && perShot.estimatedCredits == 4 * 71)
        // Another project never reuses this one's generations.
        let other = Self.list().replacingOccurrences(of: "name: rev", with: "name: rev\nproject: elsewhere")
        #expect(try Self.submit(store, other, replace: false).reused.isEmpty)
    }

    @Test func aReuseThatCannotBeHonouredRendersWithWhatContinuesFromIt() throws {
        let store = try freshStore()
        _ = try Self.submit(store, Self.list(), replace: false)
        try Self.renderAll(store)
        let again = try Self.submit(store, Self.list())
        #expect(again.reused.count == 6 && again.estimatedCredits == 0)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 8)
        let claimed = try store.claim(workerID: worker, capabilities: ["*"], limit: 8, leaseSeconds: 30)
        // Reused provider jobs start no generation: they reserve nothing and count for no provider.
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.credit_ledger WHERE entry = 'reserve' AND shot_list_id = $1",
                                [again.shotListID]) == 0)
        let s1 = try #require(claimed.first { $0.key == "sh010/s1" })
        let outcome = try store.dropReuse(jobID: s1.jobID, attempt: s1.attempt, reason: "p/x.mp4 is no longer in storage")
        guard case .retrying = outcome else { Issue.record("expected retrying, got \(outcome)"); return }
        let rows = try store.connection.execute("""
            SELECT job_key, reusing, estimated_credits, state, attempt_base FROM keyfarm.jobs WHERE shot_list_id = $1 ORDER BY job_key
            """, [again.shotListID]).rows
        let state = try Dictionary(uniqueKeysWithValues: rows.map {
            (try $0.decode("job_key", as: String.self), (try $0.decode("reusing", as: Bool.self), try $0.decode("estimated_credits", as: Int.self)))
        })
        // s1 renders, s2 continues from s1 so renders too, and sh010's stitch takes them; s0 and sh020 still reuse.
        #expect(state["sh010/s1"]! == (false, 71))
        #expect(state["sh010/s2"]! == (false, 71))
        #expect(state["sh010/stitch"]! == (false, 0))
        #expect(state["sh010/s0"]! == (true, 0))
        #expect(state["sh020/s0"]! == (true, 0))
        #expect(try store.connection.execute("SELECT estimated_credits FROM keyfarm.shot_lists WHERE id = $1",
                                             [again.shotListID]).rows[0].decode("estimated_credits", as: Int.self) == 142)
        #expect(try store.jobState(forList: again.shotListID, "sh010/s1") == "queued")
        let closed = try store.connection.execute("""
            SELECT outcome, error FROM keyfarm.attempts WHERE job_id = $1 AND attempt = $2
            """, [s1.jobID, s1.attempt]).rows[0]
        #expect(try closed.decode("outcome", as: String.self) == "handed_back")
        #expect(try closed.decode("error", as: String.self).hasPrefix("reuse: p/x.mp4"))
        // A repeat changes nothing.
        #expect(try store.dropReuse(jobID: s1.jobID, attempt: s1.attempt, reason: "again") == .stale)
    }

    @Test func anUnchangedShotKeepsItsReviewAndAChangedOneIsPendingAgain() throws {
        let store = try freshStore()
        let first = try Self.submit(store, Self.list(), replace: false)
        try Self.renderAll(store)
        let approved = try store.review(shotListID: first.shotListID, shots: nil, state: .approved, note: nil, by: "tester")
        #expect(approved.map(\.shot) == ["sh010", "sh020"])
        let second = try Self.submit(store, Self.list(second: "closer"))
        let states = try store.connection.execute("""
            SELECT shot, review_state FROM keyfarm.v_shot_progress WHERE shot_list_id = $1 ORDER BY position
            """, [second.shotListID]).rows.map { try $0.decode("review_state", as: String.self) }
        #expect(states == ["approved", "pending"])
    }
}

extension FarmStore {
    func jobState(forList id: Int64, _ key: String) throws -> String {
        try connection.execute("SELECT state FROM keyfarm.jobs WHERE shot_list_id = $1 AND job_key = $2", [id, key])
            .rows.first!.decode("state")
    }
}
