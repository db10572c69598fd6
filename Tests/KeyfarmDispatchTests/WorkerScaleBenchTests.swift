import Foundation
@testable import KeyfarmHarness
import KeyfarmTestSupport
import Testing

/// `keyfarm bench workers` end to end at a small scale (the 10,000-worker figures are in the
/// README, from `make bench`): a real coordinator process, simulated workers in two swarm
/// processes and a third that is SIGKILLed, against a fresh database.
@Suite(.serialized) struct WorkerScaleBenchTests {
    static let keys = ["workers", "coordinator_cpu_cores", "heartbeat_rtt_p50_ms", "heartbeat_rtt_p99_ms", "jobs_per_s",
                       "loss_detect_s"]

    @Test func theBenchMeasuresACoordinatorCarryingSimulatedWorkers() async throws {
        try await offPool {
            let binary = try builtKeyfarm()
            var environment = ProcessInfo.processInfo.environment
            environment["KEYFARM_DATABASE_URL"] = try TestPostgres.freshDatabase()
            let migrated = try TestProcess.run(binary, ["migrate"], environment: environment)
            #expect(migrated.status == 0, "\(migrated.error)")
            let outcome = try TestProcess.run(binary, [
                "bench", "workers", "--workers", "60", "--kill", "20", "--processes", "2", "--seconds", "3", "--jobs", "300",
                "--json",
            ], environment: environment, timeout: .seconds(300))
            let report = "\(outcome.out)\n--- stderr\n\(outcome.error.suffix(4000))"
            #expect(!outcome.timedOut && outcome.status == 0, "\(report)")
            let line = try #require(outcome.out.split(separator: "\n").last.map(String.init), "\(report)")
            let figures = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            func number(_ key: String) -> Double { (figures[key] as? NSNumber)?.doubleValue ?? -1 }
            for key in Self.keys { #expect(figures[key] is NSNumber, "\(key) in \(line)") }
            #expect(number("workers") == 60 && number("killed") == 20 && number("processes") == 3, "\(line)")
            // Every worker heartbeats about once a second, and every ping was answered.
            #expect(number("heartbeats_per_s") >= 30 && number("heartbeats_per_s") <= 90, "\(line)")
            #expect(number("heartbeat_rtt_p50_ms") > 0 && number("heartbeat_rtt_p99_ms") >= number("heartbeat_rtt_p50_ms"), "\(line)")
            #expect(number("coordinator_cpu_cores") >= 0 && number("coordinator_cpu_cores") < 1, "\(line)")
            #expect(number("jobs_per_s") > 0 && number("jobs") == 300, "\(line)")
            // Killed at most one heartbeat after their last: found lost after 2 to 3 s of silence
            // (the liveness window), plus the sweep and the poll of the database.
            #expect(number("loss_detect_s") >= 1.9 && number("loss_detect_s") < 5, "\(line)")
            // Nothing it started is left running.
            let leftovers = try TestProcess.run("/usr/bin/pgrep", ["-f", "keyfarm bench swarm"], environment: environment)
            #expect(leftovers.out.isEmpty, "still running: \(leftovers.out)")
        }
    }

    @Test func impossibleOptionsAreRefusedBeforeAnythingStarts() async throws {
        try await offPool {
            let binary = try builtKeyfarm()
            var environment = ProcessInfo.processInfo.environment
            environment["KEYFARM_DATABASE_URL"] = "postgresql://127.0.0.1:1/never-reached"
            let tooMany = try TestProcess.run(binary, ["bench", "workers", "--workers", "50", "--kill", "50"], environment: environment)
            #expect(tooMany.status == 64, "\(tooMany.error)")
            #expect(tooMany.error.contains("--kill must be at least 1 and fewer than --workers (50)"), "\(tooMany.error)")
            let short = try TestProcess.run(binary, ["bench", "workers", "--seconds", "1"], environment: environment)
            #expect(short.status == 64, "\(short.error)")
            #expect(short.error.contains("--seconds must be between 2 and 3600"), "\(short.error)")
        }
    }

    @Test func timersComeOutInOrderOfTime() {
        var heap = TimerHeap()
        let times = [5.0, 1.5, 9.0, 0.25, 3.0, 1.5, 7.0]
        for (index, time) in times.enumerated() { heap.push(time, index) }
        #expect(heap.earliest == 0.25)
        #expect(heap.popDue(at: 0.1) == nil)
        var popped: [Double] = []
        while let (time, _) = heap.popDue(at: 6) { popped.append(time) }
        #expect(popped == [0.25, 1.5, 1.5, 3.0, 5.0])
        #expect(heap.earliest == 7.0)
    }

    @Test func roundTripsCountOnlyFromReportsWhollyInsideTheWindow() {
        var collected = Collected()
        func report(pid: Int32, at: Double, welcomed: Int, trips: [UInt32]) -> WorkerSwarm.Report {
            WorkerSwarm.Report(pid: pid, at: at, workers: 10, welcomed: welcomed, jobs: 0, roundTrips: trips, errors: 0)
        }
        collected.add(report(pid: 1, at: 100.5, welcomed: 4, trips: [900]))        // covers 99.5-100.5: before
        collected.add(report(pid: 1, at: 101.5, welcomed: 10, trips: [1_000, 2_000]))
        collected.add(report(pid: 2, at: 101.6, welcomed: 10, trips: [3_000]))
        collected.add(report(pid: 1, at: 103.5, welcomed: 10, trips: [4_000]))    // ends after the window
        #expect(collected.welcomed == 20)
        let window = collected.roundTrips(from: 100.4, to: 103)
        #expect(window.milliseconds.sorted() == [1, 2, 3])
        #expect(window.seconds == 1)
    }
}
