import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import Testing

@Suite struct SubmitTests {
    @Test func submitWritesTheWholePlan() throws {
        let store = try freshStore()
        let plan = try planned(chainedList)
        let receipt = try store.submit(plan, sourcePath: "/lists/chained.yaml", sourceText: chainedList, replace: false)
        #expect(receipt.jobs == 3)
        #expect(receipt.shots == 1)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.shots") == 1)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.keyframes") == 3)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs") == 3)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.job_dependencies") == 3)
        // Segment 0 is ready; segment 1 waits for it (continuity); the stitch waits for both.
        #expect(try store.jobState("sh010/s0") == "queued")
        #expect(try store.jobState("sh010/s1") == "waiting")
        #expect(try store.jobState("sh010/stitch") == "waiting")
        let row = try store.connection.execute("""
            SELECT estimated_credits, budget_credits, source_sha256, plan->>'shot_list' AS name FROM keyfarm.shot_lists
            """).rows[0]
        #expect(try row.decode("estimated_credits", as: Int.self) == 71 + 71)
        #expect(try row.decode("budget_credits", as: Int.self) == 1000)
        #expect(try row.decode("name", as: String.self) == "chained")
        #expect(try row.decode("source_sha256", as: String.self).count == 64)
        let spec = try store.connection.execute("SELECT spec->>'prompt' AS prompt, spec->'start_image'->>'kind' AS start FROM keyfarm.jobs WHERE job_key = 'sh010/s1'").rows[0]
        #expect(try spec.decode("prompt", as: String?.self) == nil)
        #expect(try spec.decode("start", as: String.self) == "last_frame_of")
    }

    @Test func aFailingSubmitWritesNothing() throws {
        let store = try freshStore()
        var plan = try planned(chainedList)
        // A dependency on a job that does not exist: the last step of the insert fails.
        plan.shots[0].stitch.dependsOn.append("sh010/nope")
        #expect(throws: PostgresError.self) {
            try store.submit(plan, sourcePath: "/x.yaml", sourceText: chainedList, replace: false)
        }
        for table in ["shot_lists", "shots", "keyframes", "jobs", "job_dependencies"] {
            #expect(try store.count("SELECT count(*) AS n FROM keyfarm.\(table)") == 0, "\(table) is not empty")
        }
    }

    @Test func anExistingNameIsRefusedUnlessReplaced() throws {
        let store = try freshStore()
        let plan = try planned(chainedList)
        let first = try store.submit(plan, sourcePath: "/x.yaml", sourceText: chainedList, replace: false)
        #expect(throws: StoreError.shotListExists(project: "default", name: "chained", id: first.shotListID)) {
            try store.submit(plan, sourcePath: "/x.yaml", sourceText: chainedList, replace: false)
        }
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs") == 3)
        let second = try store.submit(plan, sourcePath: "/x.yaml", sourceText: chainedList, replace: true)
        #expect(second.replacedID == first.shotListID)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.shot_lists WHERE state = 'replaced'") == 1)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs WHERE shot_list_id = $1 AND state = 'cancelled'", [first.shotListID]) == 3)
        #expect(try store.shotLists().map(\.id) == [second.shotListID])
        #expect(try store.shotLists(includeReplaced: true).count == 2)
        // The same name in another project is another list.
        let other = try planned(chainedList.replacingOccurrences(of: "budget: 1000", with: "project: other"))
        _ = try store.submit(other, sourcePath: "/x.yaml", sourceText: chainedList, replace: false)
        #expect(throws: StoreError.ambiguousShotList(name: "chained", projects: ["default", "other"])) {
            try store.resolveShotList(name: "chained", project: nil)
        }
    }

    @Test func cancelStopsUnfinishedJobsAndClosesRunningAttempts() throws {
        let store = try freshStore()
        _ = try store.submit(try planned(chainedList), sourcePath: "/x.yaml", sourceText: chainedList, replace: false)
        let worker = try store.registerWorker(name: "w1", host: "h", version: "0", engines: ["luma/*"], slots: 1)
        let claimed = try store.claim(workerID: worker, capabilities: ["luma/*"], limit: 4, leaseSeconds: 60)
        #expect(claimed.map(\.key) == ["sh010/s0"])
        let receipt = try store.cancel(name: "chained", project: nil)
        #expect(receipt.cancelledJobs == 3)
        #expect(receipt.interruptedJobs == 1)
        #expect(!receipt.wasAlreadyCancelled)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.attempts WHERE outcome = 'cancelled'") == 1)
        #expect(try store.shotLists().first?.state == "cancelled")
        let again = try store.cancel(name: "chained", project: nil)
        #expect(again.wasAlreadyCancelled && again.cancelledJobs == 0)
        // The worker finishing anyway changes nothing, but its charge is still booked.
        let late = try store.completeSuccess(jobID: claimed[0].jobID, attempt: 1, artifactPath: "/a", artifactSHA256: "00",
                                             charge: Charge(provider: "luma", requestID: "gen-1", credits: 71))
        #expect(late == .stale)
        #expect(try store.jobState("sh010/s0") == "cancelled")
        #expect(try store.count("SELECT COALESCE(sum(credits), 0)::int AS n FROM keyfarm.credit_ledger") == 71)
        #expect(throws: StoreError.noSuchShotList(name: "nope", project: nil)) { try store.cancel(name: "nope", project: nil) }
    }
}
