import Foundation
import KeyfarmCommands
import KeyfarmTestSupport
import Testing

/// `keyfarm watch` following a real farm through its notifications, and `keyfarm logs` showing
/// what workers logged for each attempt, run in-process against real coordinator and worker processes.
@Suite(.serialized) struct WatchAndLogsTests {
    func lines(_ text: String, containing fragment: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.contains(fragment) }
    }

    @Test func watchFollowsARunningListByItsNotificationsAndLogsShowsEachAttempt() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.startCoordinator()
            try farm.startWorker("watch-w1", slots: 2)
            // Every job fails its first attempt, then succeeds after the retry back-off.
            let queued = keyfarm("smoke", "--name", "followed", "--project", "ops", "--jobs", "6", "--ms", "300",
                                 "--fail-attempts", "1", "--max-attempts", "3", database: farm.database)
            #expect(queued.status == 0, "\(queued.error)")

            // A look every 30 s at most: what it shows in between came from NOTIFY.
            let watched = keyfarm("watch", "followed", "--project", "ops", "--interval", "30", "--timeout", "60",
                                  database: farm.database)
            #expect(watched.status == 0, "\(watched.error)\n\(watched.out)\n\(farm.logs)")
            #expect(watched.out.contains("followed: succeeded, 100%, 6/6 done, 0 running, 0 credits spent"))
            #expect(lines(watched.out, containing: "followed: running").count >= 3, "\(watched.out)")
            #expect(!lines(watched.out, containing: "waiting to retry").isEmpty, "\(watched.out)")
            #expect(watched.out.contains("followed/smoke: [####################] 100%, segments 6 done"))
            #expect(watched.out.contains("followed/smoke: [") && watched.out.contains("running"))
            #expect(watched.out.contains("followed: credits 0 spent of 0 estimated · no budget"))
            #expect(watched.out.contains("followed: workers watch-w1 ("))
            #expect(watched.out.contains("followed: ETA —"), "nothing measured before the first success")
            #expect(watched.out.contains("followed: done in "))
            for line in watched.out.split(separator: "\n") {
                #expect(line.wholeMatch(of: #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  followed(/smoke)?: .+/#) != nil, "\(line)")
            }

            // Each attempt with its error and the lines its worker logged.
            let logs = keyfarm("logs", "followed/smoke/1", "--project", "ops", database: farm.database)
            #expect(logs.status == 0, "\(logs.error)")
            #expect(logs.out.contains("attempt 1 on watch-w1: failed"), "\(logs.out)\n\(farm.logs)")
            #expect(logs.out.hasPrefix("job followed/smoke/1 (id "))
            #expect(logs.out.contains("attempt 1 on watch-w1: failed"))
            #expect(logs.out.contains("  error: [transient] smoke job failed on purpose (attempt 1 of the first 1)"))
            #expect(logs.out.contains(" warning failing on purpose fail_attempts=1"))
            #expect(logs.out.contains(" notice attempt failed: smoke job failed on purpose"))
            #expect(logs.out.contains("attempt 2 on watch-w1: succeeded"))
            let json = keyfarm("logs", "followed/smoke/2", "--project", "ops", "--json", database: farm.database)
            #expect(json.status == 0, "\(json.error)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
            let attempts = try #require(document["attempts"] as? [[String: Any]])
            #expect(attempts.map { $0["outcome"] as? String } == ["failed", "succeeded"])
            #expect((attempts[0]["log"] as? [String])?.contains { $0.hasSuffix("warning failing on purpose fail_attempts=1") } == true)
            #expect(attempts[0]["error_class"] as? String == "transient")
            #expect((document["job"] as? [String: Any])?["key"] as? String == "smoke/2")
            let byID = keyfarm("logs", "\((document["job"] as? [String: Any])?["id"] as? Int ?? 0)", database: farm.database)
            #expect(byID.status == 0)
            #expect(byID.out.hasPrefix("job followed/smoke/2 "))

            let unknown = keyfarm("logs", "followed/smoke/99", "--project", "ops", database: farm.database)
            #expect(unknown.status == 66)
            #expect(unknown.error.contains("no job \"followed/smoke/99\": shot list followed has no job smoke/99"))
            let malformed = keyfarm("logs", "smoke", database: farm.database)
            #expect(malformed.status == 64)
            #expect(malformed.error.contains("JOB must be a job id or LIST/KEY"))
        }
    }

    @Test func watchJSONAndTheOverviewFollowARunningListToTheEnd() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.startCoordinator()
            try farm.startWorker("watch-w2", slots: 2)
            #expect(keyfarm("smoke", "--name", "as-json", "--project", "ops", "--jobs", "4", "--ms", "400",
                            database: farm.database).status == 0)
            let json = keyfarm("watch", "as-json", "--json", "--interval", "30", "--timeout", "60", database: farm.database)
            #expect(json.status == 0, "\(json.error)")
            let objects = try json.out.split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            #expect(objects.count >= 2, "\(json.out)")
            #expect(objects.last?["state"] as? String == "succeeded")
            #expect(objects.last?["jobs_succeeded"] as? Int == 4)
            #expect(objects.last?["eta_seconds"] as? Double == 0)
            #expect(objects.allSatisfy { $0["shot_list"] as? String == "as-json" && $0["at"] is String })
            let shots = try #require(objects.last?["shots"] as? [[String: Any]])
            #expect(shots.first?["segments"] as? [String: Int] == ["succeeded": 4])
            #expect(objects.contains { ($0["workers"] as? [[String: Any]])?.first?["name"] as? String == "watch-w2" })

            // The overview: every active list, and the workers, until none is left unfinished.
            #expect(keyfarm("smoke", "--name", "first", "--project", "ops", "--jobs", "3", "--ms", "600",
                            database: farm.database).status == 0)
            #expect(keyfarm("smoke", "--name", "second", "--project", "ops", "--jobs", "3", "--ms", "600",
                            database: farm.database).status == 0)
            let overview = keyfarm("watch", "--interval", "30", "--timeout", "60", database: farm.database)
            #expect(overview.status == 0, "\(overview.error)")
            #expect(overview.out.contains("first: succeeded, 100%, 3/3 done"))
            #expect(overview.out.contains("second: succeeded, 100%, 3/3 done"))
            #expect(overview.out.contains("workers: watch-w2 "))
            #expect(overview.out.hasSuffix("every shot list finished\n"))
            let idle = keyfarm("watch", database: farm.database)
            #expect(idle.status == 0)
            #expect(idle.out.hasSuffix("  workers: watch-w2 ready 0/2\nno active shot lists\n"), "\(idle.out)")
        }
    }

    @Test func anAttemptWhoseWorkerWasKilledHasNoLogAndSaysWhy() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.startCoordinator()
            let doomed = try farm.startWorker("doomed", slots: 1)
            try farm.smoke("killed", jobs: 1, ms: 3000)
            let busy = try eventually { try farm.running(on: "doomed") == 1 }
            #expect(busy, "\(farm.logs)")
            doomed.killHard()
            try farm.startWorker("survivor", slots: 1)
            let done = try eventually(timeout: .seconds(60)) { try farm.succeeded("killed") == 1 }
            #expect(done, "\(farm.logs)")
            let logs = keyfarm("logs", "killed/smoke/1", database: farm.database)
            #expect(logs.status == 0, "\(logs.error)")
            #expect(logs.out.contains("attempt 1 on doomed: lost"))
            #expect(logs.out.contains("  error: [lost] worker doomed stopped answering"))
            #expect(logs.out.contains("  log: none: the worker was lost, so no log tail came back"))
            #expect(logs.out.contains("attempt 2 on survivor: succeeded"))
        }
    }

    /// Log tails past the coordinator's retention are emptied when it starts (then hourly), and
    /// `keyfarm logs` says when; newer ones stay.
    @Test func theCoordinatorPrunesLogsPastTheirRetentionAndLogsSaysWhen() async throws {
        try await offPool {
            let farm = try Farm()
            let coordinator = try farm.startCoordinator()
            try farm.startWorker("retention-w", slots: 2)
            // Each job fails its first attempt on purpose, logging why, and then succeeds.
            #expect(keyfarm("smoke", "--name", "old", "--jobs", "2", "--ms", "10", "--fail-attempts", "1",
                            database: farm.database).status == 0)
            let done = try eventually(timeout: .seconds(60)) { try farm.succeeded("old") == 2 }
            #expect(done, "\(farm.logs)")
            #expect(try farm.count("SELECT count(*) AS n FROM keyfarm.attempt_logs WHERE pruned_at IS NULL") == 2)
            coordinator.killHard()
            // One of the two logged 45 days ago.
            try farm.store.connection.execute("""
                UPDATE keyfarm.attempt_logs SET recorded_at = now() - interval '45 days'
                WHERE attempt_id = (SELECT attempt_id FROM keyfarm.v_attempts WHERE shot_list = 'old' AND job_key = 'smoke/1'
                                    AND attempt = 1)
                """)

            let restarted = try farm.startCoordinator(["--log-retention", "30d"])
            let pruned = eventually(timeout: .seconds(30)) { restarted.log.contains("pruned attempt logs past their retention") }
            #expect(pruned, "\(farm.logs)")
            #expect(restarted.log.contains("logs=1"), "\(restarted.log)")
            let old = keyfarm("logs", "old/smoke/1", database: farm.database)
            #expect(old.status == 0, "\(old.error)")
            #expect(old.out.contains("attempt 1 on retention-w: failed"), "\(old.out)")
            #expect(old.out.contains("  log: pruned 20"), "\(old.out)")
            #expect(old.out.contains("for the coordinator's log retention ("), "\(old.out)")
            let json = keyfarm("logs", "old/smoke/1", "--json", database: farm.database)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
            let first = try #require((document["attempts"] as? [[String: Any]])?.first)
            #expect(first["log"] == nil, "no lines once pruned")
            #expect(first["log_pruned_at"] is String)
            #expect((first["log_lines"] as? Int ?? 0) > 0)
            let recent = keyfarm("logs", "old/smoke/2", database: farm.database)
            #expect(recent.out.contains(" warning failing on purpose fail_attempts=1"), "\(recent.out)")
            #expect(!recent.out.contains("pruned"))
        }
    }
}
