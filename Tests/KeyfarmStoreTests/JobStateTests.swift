import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import Testing

/// `JobState`'s transition table against the database: its CHECK allows exactly those states,
/// and every state change the store performs in a busy scenario is one the table allows.
@Suite struct JobStateTests {
    @Test func theDatabaseAllowsExactlyTheTablesStates() throws {
        let store = try freshStore()
        let definition = try store.connection.execute("""
            SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'jobs_state_check'
            """).rows[0].decode("def", as: String.self)
        let allowed = Set(definition.split(separator: "'").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) })
        #expect(allowed == Set(JobState.allCases.map(\.rawValue)), "\(definition)")
        #expect(JobState.transitions.keys.count == JobState.allCases.count)
    }

    @Test func everyStateChangeTheStoreMakesIsInTheTable() throws {
        let store = try freshStore()
        // Every change of a job's state, as the database saw it.
        try store.connection.executeScript("""
            CREATE TABLE keyfarm.test_job_moves (old_state text, new_state text);
            CREATE FUNCTION keyfarm.test_record_move() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF OLD.state IS DISTINCT FROM NEW.state THEN
                    INSERT INTO keyfarm.test_job_moves VALUES (OLD.state, NEW.state);
                END IF;
                RETURN NULL;
            END $$;
            CREATE TRIGGER test_record_move AFTER UPDATE ON keyfarm.jobs FOR EACH ROW EXECUTE FUNCTION keyfarm.test_record_move();
            """)
        // A busy farm: local and provider work, failures, a cancel, budgets; then revisions with
        // reuse and a reuse that falls back; takes selected back and forth; a retry.
        _ = try FarmScenario.populate(operator: store, coordinator: store)
        let list = try ReuseStoreTests.submit(store, ReuseStoreTests.list(), replace: false).shotListID
        try ReuseStoreTests.renderAll(store)
        _ = try store.retake(shotListID: list, segment: "sh010/s1", prompt: "again")
        _ = try store.select(shotListID: list, segment: "sh010/s1", take: 2)
        try ReuseStoreTests.renderAll(store)
        _ = try store.select(shotListID: list, segment: "sh010/s1", take: 1)
        try ReuseStoreTests.renderAll(store)
        let again = try ReuseStoreTests.submit(store, ReuseStoreTests.list())
        let worker = try store.registerWorker(name: "w", host: nil, version: nil, engines: ["*"], slots: 8)
        for job in try store.claim(workerID: worker, capabilities: ["*"], limit: 8, leaseSeconds: 30) {
            _ = try store.dropReuse(jobID: job.jobID, attempt: job.attempt, reason: "gone")
        }
        try ReuseStoreTests.renderAll(store)
        _ = try store.retryFailed(name: "wide", project: nil, jobKey: nil)
        _ = try store.cancel(name: again.name, project: nil)

        let moves = try store.connection.execute("SELECT DISTINCT old_state, new_state FROM keyfarm.test_job_moves").rows.map {
            (try $0.decode("old_state", as: String.self), try $0.decode("new_state", as: String.self))
        }
        #expect(moves.count >= 10, "the scenario moved too few jobs to say much: \(moves)")
        for (old, new) in moves {
            let from = try #require(JobState(rawValue: old)), to = try #require(JobState(rawValue: new))
            #expect(from.canMove(to: to), "the store moved a job from \(old) to \(new), which JobState.transitions does not allow")
        }
    }
}
