import Foundation
import KeyfarmMedia
import KeyfarmStore

/// What a chaos run left behind, read from the database, the fake provider and the stitched
/// files themselves, and the checks it must pass.
public struct ChaosReport {
    var jobs = 0
    var succeeded = 0
    /// Failed (or cancelled as a failed job's dependant) with an error saying why.
    var failed = 0
    /// Not finished, or finished as failed without a reason.
    var lost = 0
    var lostExamples: [String] = []
    var completedTwice = 0
    var billedGenerations = 0
    var ledgerCharges = 0
    var clips = 0
    var clipsWithPlannedFrames = 0
    var clipProblems: [String] = []
    var shots = 0
    var attemptsByOutcome: [(String, Int)] = []
    var injectedFaults: [String: Int] = [:]
    var farmEvents: [String: Int] = [:]
    var elapsed: Double = 0
    /// Leaders killed and replaced at a later epoch, and the longest time that took.
    var takeovers = 0
    var takeoverSeconds: Double = 0

    public static func gather(farm: ChaosFarm, elapsed: Double) throws -> ChaosReport {
        var report = ChaosReport()
        report.elapsed = elapsed
        report.farmEvents = farm.counts
        report.takeovers = farm.takeovers.count
        report.takeoverSeconds = farm.takeovers.max() ?? 0
        try farm.database { store in
            let connection = store.connection
            func count(_ sql: String) throws -> Int { try connection.execute(sql).rows[0].decode("n", as: Int.self) }
            report.jobs = try count("SELECT count(*) AS n FROM keyfarm.jobs")
            report.succeeded = try count("SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'succeeded'")
            report.failed = try count("""
                SELECT count(*) AS n FROM keyfarm.jobs WHERE state IN ('failed', 'cancelled') AND COALESCE(last_error, '') <> ''
                """)
            let lostRows = try connection.execute("""
                SELECT l.name AS list, j.job_key, j.state FROM keyfarm.jobs j JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
                WHERE j.state NOT IN ('succeeded', 'failed', 'cancelled')
                   OR (j.state IN ('failed', 'cancelled') AND COALESCE(j.last_error, '') = '')
                ORDER BY j.id
                """).rows
            report.lost = lostRows.count
            report.lostExamples = try lostRows.prefix(10).map {
                "\(try $0.decode("list", as: String.self))/\(try $0.decode("job_key", as: String.self)) (\(try $0.decode("state", as: String.self)))"
            }
            report.completedTwice = try count("""
                SELECT count(*) AS n FROM (SELECT job_id FROM keyfarm.attempts WHERE outcome = 'succeeded'
                                           GROUP BY job_id HAVING count(*) > 1) twice
                """)
            // A generation the ledger charges for: its charges and refunds add up to more than nothing.
            report.ledgerCharges = try count("""
                SELECT count(*) AS n FROM (SELECT provider, provider_request_id FROM keyfarm.credit_ledger
                                           WHERE entry IN ('charge', 'refund') AND provider_request_id IS NOT NULL
                                           GROUP BY provider, provider_request_id HAVING sum(credits) > 0) charged
                """)
            report.shots = try count("SELECT count(*) AS n FROM keyfarm.shots")
            report.attemptsByOutcome = try connection.execute("""
                SELECT COALESCE(error_class, outcome, 'open') AS kind, count(*) AS n FROM keyfarm.attempts GROUP BY 1 ORDER BY 2 DESC, 1
                """).rows.map { (try $0.decode("kind", as: String.self), try $0.decode("n", as: Int.self)) }

            // Every deliverable of every stitched shot, against the frames its shot planned.
            let outputs = try connection.execute("""
                SELECT o.shot_list, o.shot, o.format, o.path, o.frames, s.frames AS planned
                FROM keyfarm.v_outputs o JOIN keyfarm.shots s ON s.shot_list_id = o.shot_list_id AND s.shot_key = o.shot
                WHERE o.format <> 'manifest' ORDER BY o.shot_list, o.shot_position, o.position
                """).rows
            var clips: [String: Bool] = [:]
            for row in outputs {
                let clip = "\(try row.decode("shot_list", as: String.self))/\(try row.decode("shot", as: String.self))"
                let format = try row.decode("format", as: String.self)
                let planned = try row.decode("planned", as: Int.self)
                let recorded = try row.decode("frames", as: Int.self)
                let path = farm.storage + "/" + (try row.decode("path", as: String.self))
                var counted = recorded
                if format == "mp4" || format == "prores" {
                    do { counted = try VideoProbe.stream(path).packets } catch {
                        counted = -1
                        report.clipProblems.append("\(clip): \(format): \(error)")
                    }
                } else if format == "exr" {
                    // The EXR sequence is named by its pattern: count the files in its folder.
                    let folder = (path as NSString).deletingLastPathComponent
                    counted = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".exr") }.count
                }
                let good = recorded == planned && counted == planned
                if !good, counted >= 0 {
                    report.clipProblems.append("\(clip): \(format) has \(counted) frames (recorded \(recorded)), planned \(planned)")
                }
                clips[clip] = (clips[clip] ?? true) && good
            }
            report.clips = clips.count
            report.clipsWithPlannedFrames = clips.values.filter { $0 }.count
        }
        let billing = try farm.fakeRequest("GET", "/_fake/billing")
        let apis = (try? JSONSerialization.jsonObject(with: Data(billing.body))) as? [String: [String: Int]] ?? [:]
        report.billedGenerations = apis.values.reduce(0) { $0 + ($1["billed"] ?? 0) }
        let faults = try farm.fakeRequest("GET", "/_fake/faults")
        report.injectedFaults = ((try? JSONSerialization.jsonObject(with: Data(faults.body))) as? [String: Any])?["injected"] as? [String: Int] ?? [:]
        return report
    }

    /// What failed, one sentence each; empty when the run passed.
    public var problems: [String] {
        var problems: [String] = []
        if lost > 0 { problems.append("\(lost) job(s) lost (unfinished, or failed without a reason): \(lostExamples.joined(separator: ", "))") }
        if completedTwice > 0 { problems.append("\(completedTwice) job(s) completed twice") }
        if billedGenerations != ledgerCharges {
            problems.append("the fake billed \(billedGenerations) generation(s) but the ledger charges \(ledgerCharges)")
        }
        if clipsWithPlannedFrames != clips { problems.append(contentsOf: clipProblems) }
        // A coordinator rides out every fault the run makes (a lost database, a lost lease);
        // one that exited by itself had an error it should have survived.
        if let exits = farmEvents["coordinator_exits"], exits > 0 {
            problems.append("a coordinator exited by itself \(exits) time(s) (see the coordinators' logs)")
        }
        return problems
    }

    /// The figures, one per line, for people.
    public var figures: String {
        var lines = [
            "",
            String(format: "chaos: finished in %.1f s", elapsed),
            "  faults:   \(farmEvents["worker_kills", default: 0]) worker SIGKILLs, \(farmEvents["coordinator_kills", default: 0]) coordinator SIGKILLs, "
                + "\(farmEvents["postgres_restarts", default: 0]) PostgreSQL restart(s); daemons that exited by themselves: "
                + "coordinator \(farmEvents["coordinator_exits", default: 0]), workers \(farmEvents["worker_exits", default: 0])",
            "  provider: injected \(injectedFaults["5xx", default: 0]) 5xx, \(injectedFaults["429", default: 0]) 429, "
                + "\(injectedFaults["fail_generation", default: 0]) failed generations",
            String(format: "  leaders:  %d takeover(s) after a leader's SIGKILL; the longest took %.2f s", takeovers, takeoverSeconds),
            "  attempts: " + attemptsByOutcome.map { "\($0.1) \($0.0)" }.joined(separator: ", "),
            "  jobs:     \(jobs): \(succeeded) succeeded, \(failed) failed with a reason, \(lost) lost, \(completedTwice) completed twice",
            "  credits:  the fake billed \(billedGenerations) generations; the ledger charges \(ledgerCharges)",
            "  clips:    \(clips) stitched of \(shots) shots; \(clipsWithPlannedFrames) with every planned frame",
        ]
        lines.append(problems.isEmpty ? "chaos: every check holds" : "chaos: \(problems.count) check(s) failed")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The last line: the figures as one JSON object, keys in the documented order.
    public var line: String {
        let fields: [(String, Int)] = [
            ("jobs", jobs), ("succeeded", succeeded), ("failed", failed), ("lost", lost), ("completed_twice", completedTwice),
            ("billed_generations", billedGenerations), ("ledger_charges", ledgerCharges), ("clips", clips),
            ("clips_with_planned_frames", clipsWithPlannedFrames),
        ]
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ")
            + ", \"takeovers\": \(takeovers), \"takeover_seconds\": " + String(format: "%.2f", takeoverSeconds) + "}"
    }
}
