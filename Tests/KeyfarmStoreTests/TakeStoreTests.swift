import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import Testing

/// Takes in the store: a retake is a new paid job beside the first; selecting it moves the
/// shot's stitch over, and a segment continuing from it gets a take that starts from it.
@Suite struct TakeStoreTests {
    static func stitchSpec(_ store: FarmStore, list: Int64) throws -> [String: Any] {
        let text = try store.connection.execute("""
            SELECT spec::text AS spec FROM keyfarm.jobs WHERE shot_list_id = $1 AND job_key = 'sh010/stitch'
            """, [list]).rows[0].decode("spec", as: String.self)
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    @Test func aRetakeSelectedMovesTheStitchAndWhatContinuesFromIt() throws {
        let store = try freshStore()
        let list = try ReuseStoreTests.submit(store, ReuseStoreTests.list(), replace: false).shotListID
        try ReuseStoreTests.renderAll(store)
        _ = try store.review(shotListID: list, shots: nil, state: .approved, note: nil, by: "tester")

        let retake = try store.retake(shotListID: list, segment: "sh010/s1", prompt: "walks in, slower")
        #expect(retake.take == 2 && retake.jobKey == "sh010/s1t2" && retake.estimatedCredits == 71 && retake.reused == nil)
        #expect(try store.jobState(forList: list, "sh010/s1t2") == "queued")
        let prompt = try store.connection.execute("SELECT spec->>'prompt' AS p FROM keyfarm.jobs WHERE job_key = 'sh010/s1t2'")
            .rows[0].decode("p", as: String.self)
        #expect(prompt == "walks in, slower")
        var takes = try store.takes(shotListID: list, shot: "sh010")
        #expect(takes.map(\.jobKey) == ["sh010/s0", "sh010/s1", "sh010/s1t2", "sh010/s2"])
        #expect(takes.filter(\.selected).map(\.jobKey) == ["sh010/s0", "sh010/s1", "sh010/s2"])
        #expect(Set(takes.map(\.segment)) == ["sh010/s0", "sh010/s1", "sh010/s2"])
        // A new take changes nothing the reviewer saw until it is selected.
        #expect(try store.count("SELECT count(*)::int AS n FROM keyfarm.v_shot_progress WHERE review_state = 'approved'") == 2)

        // Selected before it rendered: the stitch waits for it, and s2 (which starts from s1's
        // last frame) gets a take starting from take 2's.
        let selected = try store.select(shotListID: list, segment: "sh010/s1", take: 2)
        #expect(selected.continued == [.init(segment: "sh010/s2", take: 2, jobKey: "sh010/s2t2", created: true)])
        #expect(selected.restitched == ["sh010/stitch"])
        #expect(try store.jobState(forList: list, "sh010/stitch") == "waiting")
        #expect(try store.jobState(forList: list, "sh010/s2t2") == "waiting")
        let s2t2 = try store.connection.execute("""
            SELECT spec->'start_image'->>'job' AS start, spec->>'request_key' AS key, request_key FROM keyfarm.jobs
            WHERE job_key = 'sh010/s2t2'
            """).rows[0]
        #expect(try s2t2.decode("start", as: String.self) == "sh010/s1t2")
        #expect(try s2t2.decode("key", as: String.self) == s2t2.decode("request_key", as: String.self))
        let pieces = (try Self.stitchSpec(store, list: list)["segment_jobs"] as! [[String: Any]]).map { "\($0["key"]!)#\($0["take"]!)" }
        #expect(pieces == ["sh010/s0#1", "sh010/s1t2#2", "sh010/s2t2#2"])
        #expect(try store.count("SELECT count(*)::int AS n FROM keyfarm.v_shot_progress WHERE review_state = 'approved'") == 1)
        #expect(try store.connection.execute("SELECT estimated_credits FROM keyfarm.shot_lists WHERE id = $1", [list])
                    .rows[0].decode("estimated_credits", as: Int.self) == 6 * 71)

        let charges = try store.count("SELECT count(*)::int AS n FROM keyfarm.credit_ledger WHERE entry = 'charge'")
        try ReuseStoreTests.renderAll(store)
        #expect(try store.count("SELECT count(*)::int AS n FROM keyfarm.credit_ledger WHERE entry = 'charge'") == charges + 2)
        #expect(try store.jobState(forList: list, "sh010/stitch") == "succeeded")
        #expect(try store.count("SELECT count(*)::int AS n FROM keyfarm.attempts a JOIN keyfarm.jobs j ON j.id = a.job_id WHERE j.job_key = 'sh010/stitch'") == 2)

        // A take continuing from one not selected cannot be chosen; back to take 1, s2's first take returns.
        #expect(throws: StoreError.self) { try store.select(shotListID: list, segment: "sh010/s2", take: 1) }
        let back = try store.select(shotListID: list, segment: "sh010/s1t2", take: 1)
        #expect(back.continued == [.init(segment: "sh010/s2", take: 1, jobKey: "sh010/s2", created: false)])
        takes = try store.takes(shotListID: list, shot: nil)
        #expect(takes.filter(\.selected).map(\.jobKey) == ["sh010/s0", "sh010/s1", "sh010/s2", "sh020/s0"])
        #expect(try store.select(shotListID: list, segment: "sh010/s1", take: 1).alreadySelected)

        #expect(throws: StoreError.noSuchTake(segment: "sh010/s1", take: 7, takes: [1, 2])) {
            try store.select(shotListID: list, segment: "sh010/s1", take: 7)
        }
        #expect(throws: StoreError.self) { try store.retake(shotListID: list, segment: "sh010/s9", prompt: nil) }
        // A replaced revision takes no new takes.
        _ = try ReuseStoreTests.submit(store, ReuseStoreTests.list())
        #expect(throws: StoreError.self) { try store.retake(shotListID: list, segment: "sh010/s1", prompt: nil) }
    }
}
