import Foundation
import KeyfarmProcess
import KeyfarmTestSupport
import Testing

/// A create whose answer never came may have made, and be billed for, a generation: where the
/// API lists generations it is found and adopted, never paid twice; where it cannot, its
/// estimate is booked as possibly spent.
@Suite struct AmbiguousCreateTests {
    /// The first create is made and then held past the worker's API timeout (1 s).
    static let lostAnswer = #"{"next": [{"lose_answer_ms": 4000}]}"#

    @Test func aLostDreamMachineCreateIsFoundInItsListAndAdopted() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.postFaults(Self.lostAnswer)
            try provider.submit(ProviderFaultTests.singleSegmentShots(name: "lost", count: 1), name: "lost")
            try provider.startCoordinator()
            try provider.startWorker("adopter", slots: 1, extraArguments: ["--api-timeout", "1s"])
            let done = try eventually(timeout: .seconds(120)) { try provider.segmentStates("lost")["succeeded"] == 1 }
            #expect(done, "\(provider.logs)")
            // One generation made, billed once, charged once: the lost answer's generation was
            // found in GET /generations and adopted by the same attempt. (The fake logs the lost
            // create's status once it has held its answer back.)
            #expect(try eventually(timeout: .seconds(20)) { try provider.creates().count == 1 })
            #expect(try provider.billed()["luma"] == 1)
            #expect(try provider.ledgerNet("lost") == 40)
            let requests = try provider.fakeJSON("/_fake/requests") as? [[String: Any]] ?? []
            #expect(requests.contains { $0["method"] as? String == "GET" && $0["path"] as? String == "/dream-machine/v1/generations" })
            let attempts = try provider.farm.store.connection.execute("""
                SELECT attempt, outcome FROM keyfarm.v_attempts WHERE shot_list = 'lost' ORDER BY attempt
                """).rows.map { "\(try $0.decode("attempt", as: Int.self)) \(try $0.decode("outcome", as: String.self))" }
            #expect(attempts == ["1 succeeded"])
            #expect(try provider.farm.count("SELECT count(*)::int AS n FROM keyfarm.credit_ledger WHERE entry = 'ambiguous'") == 0)
            #expect(try provider.keyfarm(["logs", "lost/sh10/s0", "--project", "faults"]).contains("adopting the generation it made"))
        }
    }

    @Test func aLostAgentsCreateIsBookedAsPossiblySpent() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.postFaults(Self.lostAnswer)
            try provider.submit(ProviderFaultTests.singleSegmentShots(name: "unknown", count: 1, engine: "luma/ray-3.2"), name: "unknown")
            try provider.startCoordinator()
            try provider.startWorker("ambiguous", slots: 1, extraArguments: ["--api-timeout", "1s"])
            let done = try eventually(timeout: .seconds(120)) { try provider.segmentStates("unknown")["succeeded"] == 1 }
            #expect(done, "\(provider.logs)")
            // The Agents API cannot list generations: the first attempt failed with its create
            // unaccounted for, the second created again. The fake made two and billed the one
            // polled to the end; the ledger charged one and holds the other as possibly spent.
            let billing = try provider.fakeJSON("/_fake/billing") as? [String: [String: Int]] ?? [:]
            #expect(billing["luma_agents"]?["created"] == 2 && billing["luma_agents"]?["billed"] == 1, "billing: \(billing)")
            #expect(try provider.ledgerNet("unknown") == 15)
            let ambiguous = try provider.farm.store.connection.execute("""
                SELECT c.credits, a.attempt, a.error_class FROM keyfarm.credit_ledger c JOIN keyfarm.attempts a ON a.id = c.attempt_id
                WHERE c.entry = 'ambiguous'
                """).rows
            #expect(ambiguous.count == 1)
            #expect(try ambiguous.first?.decode("credits", as: Int.self) == 15 && ambiguous.first?.decode("attempt", as: Int.self) == 1)
            #expect(try ambiguous.first?.decode("error_class", as: String.self) == "transient")
            let credits = try provider.keyfarm(["credits", "--by", "provider", "--json"])
            let total = (try JSONSerialization.jsonObject(with: Data(credits.utf8)) as? [String: Any])?["total"] as? [String: Any]
            #expect(total?["ambiguous"] as? Int == 15 && total?["net"] as? Int == 15, "\(credits)")
            #expect(try provider.keyfarm(["credits"]).contains("AMBIGUOUS"))
        }
    }
}
