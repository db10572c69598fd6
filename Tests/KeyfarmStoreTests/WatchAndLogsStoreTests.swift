import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmTestSupport
import Testing

/// What `keyfarm watch` reads (snapshots, progress notifications) and what `keyfarm logs`
/// reads (attempts with their bounded log tails).
@Suite struct WatchAndLogsStoreTests {
    let threeSegments = wideList(name: "three", shots: 1, segments: 3)

    @Test func aLogTailIsStoredBoundedToItsLast64KiBAndARepeatKeepsTheFirst() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(threeSegments), sourcePath: "/t.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 2)
        let jobs = try store.claim(workerID: worker, capabilities: ["interpolate"], limit: 2, leaseSeconds: 30)
        try #require(jobs.count == 2)
        // 3000 lines of about 100 bytes: some 300 KiB, of which only the end may stay.
        let long = (1...3000).map { "12:00:00.000 info polling the provider line=\($0) " + String(repeating: "x", count: 60) }
            .joined(separator: "\n")
        let first = AttemptRef(jobID: jobs[0].jobID, attempt: jobs[0].attempt)
        let second = AttemptRef(jobID: jobs[1].jobID, attempt: jobs[1].attempt)
        _ = try store.completeFailure(jobID: first.jobID, attempt: first.attempt, errorClass: .transient,
                                      error: "provider 503", retryAfter: 0)
        try store.recordAttemptLogs([(ref: first, tail: long, droppedLines: 40),
                                     (ref: second, tail: "12:00:01.000 info interpolating frames=48", droppedLines: 0),
                                     (ref: AttemptRef(jobID: 999_999, attempt: 1), tail: "nobody's", droppedLines: 0)])
        // A repeated RESULT brings the tail again: the first one stays.
        try store.recordAttemptLogs([(ref: second, tail: "something else", droppedLines: 0)])

        let attempts = try store.attempts(jobID: first.jobID)
        let log = try #require(attempts.first?.log)
        #expect(log.text.utf8.count <= LogTail.maximumBytes)
        #expect(log.text.utf8.count > LogTail.maximumBytes - 200)
        #expect(log.text.hasSuffix("line=3000 " + String(repeating: "x", count: 60)))
        #expect(log.text.hasPrefix("12:00:00.000 info polling the provider line="), "cut at a line boundary")
        let kept = log.text.split(separator: "\n").count
        #expect(log.lines == 3040)
        #expect(log.droppedLines == 3040 - kept)
        #expect(attempts.first?.outcome == "failed")
        #expect(attempts.first?.error == "provider 503")
        #expect(attempts.first?.worker == "w")
        #expect(try store.attempts(jobID: second.jobID).first?.log?.text == "12:00:01.000 info interpolating frames=48")
        #expect(try store.connection.execute("SELECT count(*) AS n FROM keyfarm.attempt_logs").rows[0].decode("n", as: Int.self) == 2)
        // The job was queued again: its second attempt has no log yet.
        let again = try #require(try store.claim(workerID: worker, capabilities: ["interpolate"], limit: 3, leaseSeconds: 30)
            .first { $0.jobID == first.jobID })
        #expect(again.attempt == 2)
        #expect(try store.attempts(jobID: first.jobID).map(\.attempt) == [1, 2])
        #expect(try store.attempts(jobID: first.jobID).last?.log == nil)
    }

    @Test func logsPastTheirRetentionAreEmptiedOldestFirstInBatchesKeepingTheirCounts() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(threeSegments), sourcePath: "/t.yaml", sourceText: "", replace: false)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 3)
        let jobs = try store.claim(workerID: worker, capabilities: ["interpolate"], limit: 3, leaseSeconds: 30)
        try #require(jobs.count == 3)
        let refs = jobs.map { AttemptRef(jobID: $0.jobID, attempt: $0.attempt) }
        try store.recordAttemptLogs(refs.enumerated().map { index, ref in
            (ref: ref, tail: "12:00:0\(index).000 info line one\n12:00:0\(index).500 info line two", droppedLines: index)
        })
        // The first logged 40 days ago, the second 31, the third just now.
        for (ref, days) in [(refs[0], 40), (refs[1], 31)] {
            try store.connection.execute("""
                UPDATE keyfarm.attempt_logs SET recorded_at = now() - make_interval(days => $2)
                WHERE attempt_id = (SELECT id FROM keyfarm.attempts WHERE job_id = $1 AND attempt = 1)
                """, [ref.jobID, days])
        }
        let thirtyDays = 30.0 * 86_400
        #expect(try store.pruneAttemptLogs(olderThan: thirtyDays, limit: 1) == 1)
        #expect(try store.attempts(jobID: refs[0].jobID).first?.log?.prunedAt != nil, "the oldest goes first")
        #expect(try store.attempts(jobID: refs[1].jobID).first?.log?.prunedAt == nil)
        #expect(try store.pruneAttemptLogs(olderThan: thirtyDays, limit: 1) == 1)
        #expect(try store.pruneAttemptLogs(olderThan: thirtyDays, limit: 1) == 0, "a pruned log is not pruned again")

        for ref in refs.prefix(2) {
            let log = try #require(try store.attempts(jobID: ref.jobID).first?.log)
            #expect(log.text.isEmpty)
            #expect(log.lines == 2 + log.droppedLines, "what was logged is still counted")
            #expect(log.prunedAt.map { abs($0.timeIntervalSinceNow) < 600 } == true)
        }
        let kept = try #require(try store.attempts(jobID: refs[2].jobID).first?.log)
        #expect(kept.prunedAt == nil)
        #expect(kept.text == "12:00:02.000 info line one\n12:00:02.500 info line two")
        // A longer retention keeps what a shorter one would prune.
        #expect(try store.pruneAttemptLogs(olderThan: 365 * 86_400, limit: 100) == 0)
    }

    @Test func aJobIsFoundByIdOrListAndKeyAndAnUnknownOneIsNamed() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(threeSegments), sourcePath: "/t.yaml", sourceText: "", replace: false)
        let byKey = try store.resolveJob("three/s0/s1", project: nil)
        #expect(byKey.key == "s0/s1")
        #expect(byKey.shotList == "three")
        #expect(byKey.kind == "segment")
        #expect(try store.resolveJob("\(byKey.id)", project: nil) == byKey)
        #expect(try store.resolveJob("\(byKey.id)", project: "default") == byKey)
        #expect(try store.attempts(jobID: byKey.id).isEmpty)
        #expect(throws: StoreError.noSuchJob(reference: "three/s0/s9", reason: "shot list three has no job s0/s9 (its jobs: s0/s0, s0/s1, s0/s2, s0/stitch)")) {
            try store.resolveJob("three/s0/s9", project: nil)
        }
        #expect(throws: StoreError.noSuchJob(reference: "four/s0/s1", reason: "no shot list named \"four\"")) {
            try store.resolveJob("four/s0/s1", project: nil)
        }
        #expect(throws: StoreError.noSuchJob(reference: "424242", reason: "no job has id 424242")) {
            try store.resolveJob("424242", project: nil)
        }
        #expect(throws: StoreError.noSuchJob(reference: "\(byKey.id)", reason: "no job has id \(byKey.id) in project \"other\"")) {
            try store.resolveJob("\(byKey.id)", project: "other")
        }
    }

    @Test func progressIsAnnouncedOncePerShotListWhenTheTransactionCommits() throws {
        let database = try TestPostgres.freshDatabase()
        let store = try FarmStore(conninfo: database, logger: testLogger)
        try store.migrate()
        _ = try store.submit(try planned(threeSegments), sourcePath: "/t.yaml", sourceText: "", replace: false)
        _ = try store.submit(try planned(wideList(name: "two", shots: 2, segments: 1)), sourcePath: "/w.yaml", sourceText: "",
                             replace: false)
        let listener = try PostgresConnection(conninfo: database, logger: testLogger)
        defer { listener.close() }
        try listener.listen(FarmStore.progressChannel)
        let jobs = try store.connection.execute("SELECT id FROM keyfarm.jobs ORDER BY id").rows.map { try $0.decode("id", as: Int64.self) }
        try store.connection.transaction { _ in
            try store.announceProgress(jobIDs: jobs)
            #expect(try listener.waitForNotifications(timeout: .milliseconds(200)).isEmpty, "nothing before the commit")
        }
        let lists = try store.connection.execute("SELECT id FROM keyfarm.shot_lists ORDER BY id").rows
            .map { "\(try $0.decode("id", as: Int64.self))" }
        var payloads: [String] = []
        let deadline = ContinuousClock.now + .seconds(5)
        while payloads.count < 2 && ContinuousClock.now < deadline {
            payloads += try listener.waitForNotifications(timeout: .milliseconds(500)).map(\.payload)
        }
        payloads += try listener.waitForNotifications(timeout: .milliseconds(200)).map(\.payload)
        #expect(payloads.sorted() == lists.sorted())
        try store.announceProgress(jobIDs: [])
        #expect(try listener.waitForNotifications(timeout: .milliseconds(200)).isEmpty)
    }

    @Test func aSnapshotCountsSegmentsByStateAndMeasuresFinishedAttemptsForTheETA() throws {
        let store = try freshStore()
        let receipt = try store.submit(try planned(threeSegments), sourcePath: "/t.yaml", sourceText: "", replace: false)
        _ = try store.setBudget(shotList: "three", project: nil, credits: 100)
        try store.setBudget(project: "default", credits: 1_000)
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 3)
        var fresh = try store.watchSnapshot(listIDs: [receipt.shotListID])
        #expect(fresh.lists.count == 1)
        #expect(fresh.lists[0].shots.map(\.segments) == [["queued": 3]])
        #expect(fresh.lists[0].shots.map(\.stitch) == ["waiting"])
        #expect(fresh.lists[0].estimate == CompletionEstimate(seconds: nil, isLowerBound: true))
        #expect(fresh.lists[0].status.budgetCredits == 100)
        #expect(fresh.lists[0].projectBudget?.credits == 1_000)

        let jobs = try store.claim(workerID: worker, capabilities: ["interpolate"], limit: 3, leaseSeconds: 30)
        try #require(jobs.count == 3)
        try store.markRunning(jobs.map { (AttemptRef(jobID: $0.jobID, attempt: $0.attempt), 0) })
        // The first took two seconds (as the database counts it); the second fails and waits to retry.
        try store.connection.execute("UPDATE keyfarm.attempts SET started_at = now() - interval '2 seconds' WHERE job_id = $1",
                                     [jobs[0].jobID])
        _ = try store.completeSuccess(jobID: jobs[0].jobID, attempt: 1, artifactPath: nil, artifactSHA256: nil, charge: nil)
        _ = try store.completeFailure(jobID: jobs[1].jobID, attempt: 1, errorClass: .transient, error: "disk full", retryAfter: 60)
        try store.recordProgress([(AttemptRef(jobID: jobs[2].jobID, attempt: 1), 0.5)])

        fresh = try store.watchSnapshot(listIDs: [receipt.shotListID])
        let list = try #require(fresh.lists.first)
        #expect(list.shots[0].segments == ["succeeded": 1, "retry_wait": 1, "running": 1])
        #expect(list.retrying == 1)
        #expect(list.workers == [WatchedList.WorkerShare(name: "w", jobs: 1)])
        #expect(fresh.workers.map(\.name) == ["w"])
        let interpolate = try #require(list.work.first { $0.engine == "interpolate" })
        #expect(interpolate.unfinishedJobs == 2)
        #expect(interpolate.runningJobs == 1)
        #expect(interpolate.measuredJobs == 1)
        #expect(abs(interpolate.remainingJobs - 1.5) < 0.001)
        #expect(abs((interpolate.meanSeconds ?? 0) - 2) < 0.5)
        // 1.5 jobs of about 2 s on one running slot; the stitch has not been measured.
        let estimate = list.estimate
        #expect(abs((estimate.seconds ?? 0) - 3) < 0.8)
        #expect(estimate.isLowerBound)
        #expect(try store.activeShotListIDs() == [receipt.shotListID])
        #expect(try store.activeShotListIDs(project: "default") == [receipt.shotListID])
        #expect(try store.activeShotListIDs(project: "elsewhere").isEmpty)
    }
}
