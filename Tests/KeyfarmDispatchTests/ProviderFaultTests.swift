import Foundation
import KeyfarmProcess
import KeyfarmTestSupport
import Testing

/// Provider faults end to end: a worker killed after submitting, a 429 storm, a failed
/// generation, and a budget that runs out; none may pay twice or lose a credit.
@Suite struct ProviderFaultTests {
    /// Shots of one 3 s segment each (two keyframes) on `engine`.
    static func singleSegmentShots(name: String, count: Int, engine: String = "luma/ray-2", budget: Int? = nil) -> String {
        var yaml = """
            version: 1
            name: \(name)
            project: faults
            \(budget.map { "budget: \($0)\n" } ?? "")defaults:
              fps: 24
              resolution: 540p
              aspect: "16:9"
              outputs: [mp4]
              max_attempts: 3
            shots:

            """
        for index in 0..<count {
            yaml += """
                  - id: sh\(index + 1)0
                    duration: 3
                    engine: \(engine)
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_a.png"))", prompt: "the ball rolls, take \(index)" }
                      - { at: 3, image: "\(Refs.path("sh010_c.png"))" }

                """
        }
        return yaml
    }

    @Test func aWorkerKilledAfterSubmittingIsReplacedAndTheProviderSeesOneCreate() async throws {
        try await offPool {
            // Generations take about 3 s here, so the kill lands while one is rendering. Ray 3.2
            // takes its keyframes inline: the provider needs nothing from the worker that dies.
            let provider = try ProviderFarm(stepMilliseconds: 1500)
            try provider.submit(Self.singleSegmentShots(name: "killed", count: 1, engine: "luma/ray-3.2"), name: "killed")
            try provider.startCoordinator()
            let first = try provider.startWorker("doomed", slots: 1)
            let submitted = try eventually(timeout: .seconds(60)) {
                try provider.farm.count("""
                    SELECT count(*) AS n FROM keyfarm.v_attempts WHERE shot_list = 'killed' AND provider_request_id IS NOT NULL
                    """) == 1
            }
            #expect(submitted, "\(provider.logs)")
            first.killHard()
            try provider.startWorker("replacement", slots: 1)
            let done = try eventually(timeout: .seconds(180)) { try provider.segmentStates("killed")["succeeded"] == 1 }
            #expect(done, "\(provider.logs)")
            #expect(try provider.creates().count == 1, "the provider was asked to create twice")
            let attempts = try provider.farm.store.connection.execute("""
                SELECT outcome, worker, provider_request_id FROM keyfarm.v_attempts WHERE shot_list = 'killed' ORDER BY attempt
                """).rows
            #expect(attempts.count == 2)
            if attempts.count == 2 {
                #expect(try attempts[0].decode("outcome", as: String?.self) == "lost")
                #expect(try attempts[1].decode("outcome", as: String?.self) == "succeeded")
                #expect(try attempts[1].decode("worker", as: String?.self) == "replacement")
                let ids = try attempts.map { try $0.decode("provider_request_id", as: String?.self) }
                #expect(ids[0] != nil && ids[0] == ids[1], "the replacement resumed another request: \(ids)")
            }
            #expect(try provider.billed()["luma_agents"] == 1)
            #expect(try provider.ledgerNet("killed") == 15)
        }
    }

    @Test func a429StormIsRiddenOutWithoutExtraCharges() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.postFaults(#"{"next": [{"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 1}, {"status": 503}]}"#)
            try provider.submit(Self.singleSegmentShots(name: "storm", count: 3), name: "storm")
            try provider.startCoordinator()
            try provider.startWorker("patient", slots: 3)
            let done = try eventually(timeout: .seconds(180)) { try provider.segmentStates("storm")["succeeded"] == 3 }
            #expect(done, "\(provider.logs)")
            let requests = try provider.fakeJSON("/_fake/requests") as? [[String: Any]] ?? []
            #expect(requests.filter { $0["status"] as? Int == 429 }.count == 6, "the storm did not hit")
            #expect(try provider.creates().count == 3)
            #expect(try provider.billed()["luma"] == 3)
            #expect(try provider.ledgerNet("storm") == 3 * 40, "a rate-limited request was charged")
        }
    }

    @Test func aFailedGenerationIsRetriedAndLumasRefundShowsInTheLedger() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.postFaults(#"{"next": [{"fail_generation": "the model could not render this"}]}"#)
            try provider.submit(Self.singleSegmentShots(name: "refund", count: 1), name: "refund")
            try provider.startCoordinator()
            try provider.startWorker("retrier", slots: 1)
            let done = try eventually(timeout: .seconds(180)) { try provider.segmentStates("refund")["succeeded"] == 1 }
            #expect(done, "\(provider.logs)")
            #expect(try provider.creates().count == 2)
            #expect(try provider.billed()["luma"] == 1)
            // The failed generation was charged and refunded (Luma's policy); the second was charged.
            let entries = try provider.farm.store.connection.execute("""
                SELECT c.entry, c.credits FROM keyfarm.credit_ledger c JOIN keyfarm.shot_lists l ON l.id = c.shot_list_id
                WHERE l.name = 'refund' AND c.entry IN ('charge', 'refund') ORDER BY c.id
                """).rows.map { (try $0.decode("entry", as: String.self), try $0.decode("credits", as: Int.self)) }
            #expect(entries.map(\.0) == ["charge", "refund", "charge"] && entries.map(\.1) == [40, -40, 40],
                    "ledger: \(entries)")
            #expect(try provider.ledgerNet("refund") == 40)
            let attempt = try provider.farm.store.connection.execute("""
                SELECT error_class, error FROM keyfarm.v_attempts WHERE shot_list = 'refund' AND attempt = 1
                """).rows.first
            #expect(try attempt?.decode("error_class", as: String?.self) == "provider_failed")
            #expect(try attempt?.decode("error", as: String?.self)?.contains("the model could not render this") == true)
        }
    }

    @Test func aModerationRefusalFailsTheJobAtOnceWithTheProvidersReason() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.postFaults(#"{"next": [{"fail_generation": "moderation"}]}"#)
            try provider.submit(Self.singleSegmentShots(name: "refused", count: 1), name: "refused")
            try provider.startCoordinator()
            try provider.startWorker("moderated", slots: 1)
            let failed = try eventually(timeout: .seconds(120)) { try provider.segmentStates("refused")["failed"] == 1 }
            #expect(failed, "\(provider.logs)")
            // Terminal: one attempt, one create, and Luma's refund nets the charge to zero.
            #expect(try provider.creates().count == 1)
            let job = try provider.farm.store.connection.execute("""
                SELECT attempts, last_error_class, last_error FROM keyfarm.v_jobs WHERE shot_list = 'refused' AND kind = 'segment'
                """).rows[0]
            #expect(try job.decode("attempts", as: Int.self) == 1)
            #expect(try job.decode("last_error_class", as: String?.self) == "invalid")
            #expect(try job.decode("last_error", as: String?.self)?.contains("moderation failed") == true)
            #expect(try provider.ledgerNet("refused") == 0)
            let status = try provider.keyfarm(["status", "refused", "--project", "faults"])
            #expect(status.contains("moderation"), "status: \(status)")
            // What the provider engine logged on the worker came back with the result.
            let key = try provider.farm.store.connection.execute("""
                SELECT job_key FROM keyfarm.v_jobs WHERE shot_list = 'refused' AND kind = 'segment'
                """).rows[0].decode("job_key", as: String.self)
            let logs = try provider.keyfarm(["logs", "refused/\(key)", "--project", "faults"])
            #expect(logs.contains("attempt 1 on moderated: failed"), "logs: \(logs)")
            #expect(logs.contains(" info provider request submitted provider.request_id="), "logs: \(logs)")
            #expect(logs.contains(" notice attempt failed: "), "logs: \(logs)")
        }
    }

    @Test func aBudgetThatFitsThreeOfFiveSpendsForThreeAndBlocksTwoUntilRaised() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.submit(Self.singleSegmentShots(name: "budget", count: 5, budget: 120), name: "budget")
            try provider.startCoordinator()
            try provider.startWorker("thrifty", slots: 5)
            let three = try eventually(timeout: .seconds(180)) {
                let states = try provider.segmentStates("budget")
                return states["succeeded"] == 3 && states["blocked"] == 2
            }
            let states = try provider.segmentStates("budget")
            #expect(three, "segments: \(states)\n\(provider.logs)")
            #expect(try provider.creates().count == 3)
            #expect(try provider.ledgerNet("budget") == 120)
            let status = try provider.keyfarm(["status", "budget", "--project", "faults"])
            #expect(status.contains("budget"), "status shows no blocked reason: \(status)")
            _ = try provider.keyfarm(["budget", "set", "--shot-list", "budget", "--project", "faults", "200"])
            let all = try eventually(timeout: .seconds(180)) { try provider.segmentStates("budget")["succeeded"] == 5 }
            #expect(all, "\(provider.logs)")
            #expect(try provider.creates().count == 5)
            #expect(try provider.billed()["luma"] == 5)
            #expect(try provider.ledgerNet("budget") == 200)
            let credits = try provider.keyfarm(["credits", "--by", "shot-list", "--json"])
            #expect(credits.contains("200"), "credits: \(credits)")
        }
    }
}

/// A provider that answers for the whole account: the farm stops sending it work, says so,
/// and sends the waiting jobs once an operator resumes the account.
@Suite struct ProviderSuspensionTests {
    @Test func aBudgetExhaustedAnswerSuspendsTheAccountUntilResumed() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.postFaults(#"{"next": [{"fail_generation": "budget_exhausted"}]}"#)
            try provider.submit(ProviderFaultTests.singleSegmentShots(name: "broke", count: 1, engine: "luma/ray-3.2"), name: "broke")
            try provider.startCoordinator()
            try provider.startWorker("spender", slots: 2, engines: "luma/*")
            let suspended = try eventually(timeout: .seconds(300)) {
                try provider.farm.count("SELECT count(*)::int AS n FROM keyfarm.v_provider_accounts WHERE provider = 'luma' AND suspended_at IS NOT NULL") == 1
            }
            #expect(suspended, "\(provider.logs)")
            // The job waits, queued, its attempt handed back rather than failed.
            let attempts = try provider.farm.store.connection.execute("""
                SELECT outcome FROM keyfarm.v_attempts WHERE shot_list = 'broke' ORDER BY attempt
                """).rows.map { try $0.decode("outcome", as: String?.self) }
            #expect(attempts == ["handed_back"])
            #expect(try provider.segmentStates("broke")["failed"] == nil)
            let listing = try provider.keyfarm(["providers", "list", "--json"])
            let accounts = try #require(try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [[String: Any]])
            let luma = try #require(accounts.first { $0["provider"] as? String == "luma" })
            #expect((luma["suspended_reason"] as? String)?.contains("budget_exhausted") == true, "\(luma)")
            #expect(accounts.first { $0["provider"] as? String == "fal" }?["suspended_at"] is NSNull)
            let table = try provider.keyfarm(["providers"])
            #expect(table.contains("SUSPENDED") && table.contains("keyfarm providers resume luma"), "\(table)")

            // Resumed, the job goes out again and renders; the provider billed one generation.
            #expect(try provider.keyfarm(["providers", "resume", "luma"]).contains("resumed"))
            let done = try eventually(timeout: .seconds(300)) { try provider.segmentStates("broke")["succeeded"] == 1 }
            #expect(done, "\(provider.logs)")
            #expect(try provider.creates().count == 2)
            #expect(try provider.billed()["luma_agents"] == 1)
            let again = try ChildProcess(executable: provider.farm.binary, arguments: ["providers", "resume", "luma"],
                                         environment: provider.environment).run()
            #expect(again.status == 66 && again.output.contains("not suspended"), "\(again.output)")
        }
    }
}

/// Keyframes reach Luma's Agents API through its Files API: each distinct image is uploaded
/// once per account and named by id after that, in PostgreSQL; a file the provider no longer
/// has is uploaded again. (The lists ask the same generations again, so reuse is off: they
/// must render for the uploads to be seen.)
@Suite struct ProviderFilesTests {
    static func list(_ name: String) -> String {
        """
        version: 1
        name: \(name)
        project: files
        defaults: { fps: 24, resolution: 540p, aspect: "16:9", outputs: [mp4], engine: luma/ray-3.2, reuse: false }
        shots:
          - id: sh10
            duration: 2
            keyframes:
              - { at: 0, image: "\(Refs.path("sh010_a.png"))", prompt: "a ball by the tree" }
              - { at: 2, image: "\(Refs.path("sh010_b.png"))" }
          - id: sh20
            duration: 2
            keyframes:
              - { at: 0, image: "\(Refs.path("sh010_b.png"))", prompt: "the ball rolls on" }
              - { at: 2, image: "\(Refs.path("sh010_a.png"))" }
        """
    }

    func uploads(_ provider: ProviderFarm) throws -> Int {
        let requests = try provider.fakeJSON("/_fake/requests") as? [[String: Any]] ?? []
        return requests.filter { $0["method"] as? String == "POST" && $0["path"] as? String == "/v1/files" }.count
    }

    @Test func eachImageIsUploadedOnceAndAgainOnlyWhenTheProviderLostIt() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.submit(Self.list("first"), name: "first")
            try provider.startCoordinator()
            try provider.startWorker("uploader", slots: 1, engines: "luma/*,stitch")
            let first = try eventually(timeout: .seconds(300)) { try provider.segmentStates("first")["succeeded"] == 2 }
            #expect(first, "\(provider.logs)")
            // Two distinct images over four keyframes: two uploads, recorded by content.
            #expect(try uploads(provider) == 2)
            let recorded = try provider.farm.store.providerFiles(provider: "luma")
            #expect(recorded.count == 2)

            // A second list with the same images uploads nothing.
            try provider.submit(Self.list("second"), name: "second")
            let second = try eventually(timeout: .seconds(300)) { try provider.segmentStates("second")["succeeded"] == 2 }
            #expect(second, "\(provider.logs)")
            #expect(try uploads(provider) == 2)

            // The provider loses one file: the next generation naming it is refused, the images go
            // up again in the same attempt, and the new id replaces the old.
            let gone = try #require(recorded.values.sorted().first)
            let deleted = try ChildProcess(executable: "/usr/bin/curl", arguments: [
                "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", "-H", "Authorization: Bearer any",
                provider.fakeURL + "/v1/files/" + gone,
            ], environment: [:]).run()
            #expect(deleted.output == "204")
            try provider.submit(Self.list("third").replacingOccurrences(of: "  - id: sh20", with: "  - id: sh30"), name: "third")
            let third = try eventually(timeout: .seconds(300)) { try provider.segmentStates("third")["succeeded"] == 2 }
            #expect(third, "\(provider.logs)")
            #expect(try uploads(provider) > 2)
            let now = try provider.farm.store.providerFiles(provider: "luma")
            #expect(now.count == 2 && !now.values.contains(gone))
            // Every segment job succeeded on its first attempt: the refusal cost no attempt.
            #expect(try provider.farm.count("SELECT count(*)::int AS n FROM keyfarm.v_attempts WHERE outcome <> 'succeeded'") == 0)
        }
    }
}

/// Luma's output URLs are presigned and expire: a worker handed an expired one re-reads the
/// generation for fresh URLs before anything else, within the same attempt.
@Suite struct ExpiredOutputURLTests {
    @Test func anExpiredOutputURLIsReplacedByTheGenerationsFreshOne() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.postFaults(#"{"expired_output_urls": 1}"#)
            try provider.submit(ProviderFaultTests.singleSegmentShots(name: "expired", count: 1, engine: "luma/ray-3.2"), name: "expired")
            try provider.startCoordinator()
            try provider.startWorker("downloader", slots: 1, engines: "luma/*")
            let done = try eventually(timeout: .seconds(300)) { try provider.segmentStates("expired")["succeeded"] == 1 }
            #expect(done, "\(provider.logs)")
            // One attempt, one generation: the refused download was followed by a fresh URL's.
            #expect(try provider.farm.count("SELECT count(*)::int AS n FROM keyfarm.v_attempts WHERE shot_list = 'expired'") == 1)
            #expect(try provider.creates().count == 1)
            let requests = try provider.fakeJSON("/_fake/requests") as? [[String: Any]] ?? []
            let downloads = requests.filter { ($0["path"] as? String)?.hasPrefix("/files/") == true }.map { $0["status"] as? Int }
            #expect(downloads == [403, 200], "\(downloads)")
            #expect(provider.fullLogs.contains("the output URL was refused"))
        }
    }
}
