import Foundation
import KeyfarmCommands
import KeyfarmTestSupport
import Testing

/// The operator's commands against a real farm of processes, run in-process.
@Suite(.serialized) struct OperatorCommandTests {
    @Test func smokeWaitWorkersDrainUndrainAndRetry() async throws {
        try await offPool {
            let farm = try Farm()
            try farm.startCoordinator()
            try farm.startWorker("op-w1", slots: 3)
            let smoke = keyfarm("smoke", "--name", "ops", "--jobs", "12", "--ms", "10", "--fail-rate", "0.2",
                                "--max-attempts", "10", "--wait", "--timeout", "60", database: farm.database)
            #expect(smoke.status == 0, "\(smoke.error)\n\(farm.logs)")
            #expect(smoke.out.contains("ops: 12 of 12 succeeded"))
            #expect(smoke.error.contains("succeeded"))

            let watched = keyfarm("watch", "ops", "--project", "smoke", "--interval", "0.1", "--timeout", "30", database: farm.database)
            #expect(watched.status == 0, "\(watched.error)")
            #expect(watched.out.contains("ops: succeeded, 100%, 12/12 done"))

            let listing = keyfarm("workers", "--json", database: farm.database)
            #expect(listing.status == 0)
            let workers = try #require((try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [String: Any])?["workers"] as? [[String: Any]])
            #expect(workers.map { $0["name"] as? String } == ["op-w1"])
            #expect(workers[0]["state"] as? String == "ready")
            #expect((workers[0]["succeeded_attempts"] as? Int ?? 0) >= 12)

            #expect(keyfarm("drain", "op-w1", database: farm.database).status == 0)
            #expect(keyfarm("workers", database: farm.database).out.contains("draining"))
            // The coordinator told the worker: from then on its roster gives the worker nothing
            // (DispatcherTests proves the rule; here the DRAIN reaching the process is the signal).
            let toldToDrain = eventually { farm.workers["op-w1"]?.log.contains("drained by the coordinator") == true }
            #expect(toldToDrain, "\(farm.logs)")
            let unknown = keyfarm("drain", "nobody", database: farm.database)
            #expect(unknown.status == 66)
            #expect(unknown.error.contains("no worker named \"nobody\""))
            let queued = keyfarm("smoke", "--name", "held", "--jobs", "3", "--ms", "1", database: farm.database)
            #expect(queued.status == 0)
            #expect(try farm.succeeded("held") == 0)
            #expect(keyfarm("undrain", "op-w1", database: farm.database).status == 0)
            let released = try eventually { try farm.succeeded("held") == 3 }
            #expect(released, "\(farm.logs)")

            // A list whose only job always fails, then a retry with a fresh round.
            let failing = keyfarm("smoke", "--name", "doomed", "--jobs", "1", "--ms", "1", "--fail-rate", "1",
                                  "--max-attempts", "1", "--wait", "--timeout", "30", database: farm.database)
            #expect(failing.status == 1)
            #expect(failing.error.contains("1 job(s) failed"))
            let watchFailed = keyfarm("watch", "doomed", "--project", "smoke", "--interval", "0.1", "--timeout", "30", database: farm.database)
            #expect(watchFailed.status == 1)
            #expect(watchFailed.out.contains("smoke job failed on purpose"))
            let retry = keyfarm("retry", "doomed", "--project", "smoke", database: farm.database)
            #expect(retry.status == 0, "\(retry.error)")
            #expect(retry.out.contains("requeued 1 job of doomed"))
            let failedAgain = try eventually { try farm.count("SELECT count(*) AS n FROM keyfarm.v_attempts WHERE shot_list = 'doomed'") == 2 }
            #expect(failedAgain)
            let failedTwice = try eventually { try farm.count("SELECT count(*) AS n FROM keyfarm.v_jobs WHERE shot_list = 'doomed' AND state = 'failed'") == 1 }
            #expect(failedTwice)
            let fresh = keyfarm("retry", "doomed", "--project", "smoke", "--fresh", database: farm.database)
            #expect(fresh.status == 0, "\(fresh.error)")
            #expect(fresh.out.contains("requeued 1 job of doomed, with new provider requests"))
        }
    }
}
