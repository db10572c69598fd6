import Foundation
import KeyfarmCore
import KeyfarmStore

/// The chaos run's schedule: submissions, worker kills, two kills of the leading coordinator and one
/// PostgreSQL restart over `duration` seconds, then waiting for the farm to finish.
public struct ChaosRun {
    let farm: ChaosFarm
    let files: [ShotListFile]
    let duration: Double
    let killEvery: Double
    let settle: Double
    var generator: SeededGenerator
    /// Seconds from the first submission to the end of waiting.
    public private(set) var elapsed: Double = 0
    private var started = Date()

    /// Where progress lines go (the command prints them).
    let report: (String) -> Void

    public init(farm: ChaosFarm, files: [ShotListFile], duration: Double, killEvery: Double, settle: Double,
                generator: SeededGenerator, report: @escaping (String) -> Void) {
        self.report = report
        self.farm = farm
        self.files = files
        self.duration = duration
        self.killEvery = killEvery
        self.settle = settle
        self.generator = generator
    }

    private var now: Double { Date().timeIntervalSince(started) }

    private func say(_ text: String) {
        report(String(format: "[%7.1f s] ", now) + text)
    }

    public mutating func execute() throws {
        started = Date()
        // Half the lists now, the rest spread over the first half of the faults.
        let firstBatch = (files.count + 1) / 2
        for file in files.prefix(firstBatch) { try submit(file) }
        let later = Array(files.dropFirst(firstBatch))
        var submissions = later.indices.map { (at: Double($0 + 1) * duration * 0.5 / Double(later.count + 1), file: later[$0]) }
        var coordinatorKills = [0.25 * duration, 0.7 * duration]
        var postgresRestart: Double? = 0.5 * duration
        var nextWorkerKill = nextInterval()
        var nextProgress = 10.0

        while now < duration {
            for event in try farm.supervise() { say(event) }
            if now >= nextWorkerKill {
                let index = Int.random(in: 0..<farm.workers.count, using: &generator)
                let pause = Double.random(in: 0.2...1.5, using: &generator)
                if let pid = farm.workers[index]?.pid {
                    farm.killWorker(index, restartDelay: pause)
                    say("SIGKILL \(farm.workerName(index)) (pid \(pid)); restarting in \(String(format: "%.1f", pause)) s")
                }
                nextWorkerKill = now + nextInterval()
            }
            if let at = coordinatorKills.first, now >= at {
                coordinatorKills.removeFirst()
                if let (name, pid) = try farm.killLeader(restartDelay: 1) {
                    say("SIGKILL \(name == "coordinator" ? "the coordinator" : "the leader, \(name),") (pid \(pid)); restarting in 1 s")
                }
            }
            for event in try farm.checkTakeovers() { say(event) }
            if let at = postgresRestart, now >= at {
                postgresRestart = nil
                say("stopping PostgreSQL abruptly (pg_ctl -m immediate)")
                try farm.restartPostgres(downFor: 3)
                say("PostgreSQL started again after 3 s down")
            }
            if let next = submissions.first, now >= next.at {
                submissions.removeFirst()
                try submit(next.file)
            }
            if now >= nextProgress {
                say(try progress())
                nextProgress = now + 10
            }
            usleep(100_000)
        }
        for remaining in submissions { try submit(remaining.file) }

        let faultsEnded = now
        say("faults over; waiting up to \(Int(settle)) s for every shot list to finish")
        while true {
            for event in try farm.supervise() { say(event) }
            for event in try farm.checkTakeovers() { say(event) }
            let open = try farm.database { store in
                try store.connection.execute("""
                    SELECT count(*) AS n FROM keyfarm.jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')
                    """).rows[0].decode("n", as: Int.self)
            }
            if open == 0 {
                say("every job has finished")
                break
            }
            if now - faultsEnded > settle {
                say("\(open) job(s) still unfinished after \(Int(settle)) s")
                break
            }
            if now >= nextProgress {
                say(try progress())
                nextProgress = now + 10
            }
            usleep(250_000)
        }
        elapsed = now
    }

    /// About `killEvery` seconds, between half and one and a half times it.
    private mutating func nextInterval() -> Double {
        killEvery * Double.random(in: 0.5...1.5, using: &generator)
    }

    private func submit(_ file: ShotListFile) throws {
        let receipt: SubmitReceipt? = try farm.database { store in
            let plan = Planner(prices: try store.priceTable()).plan(file.list)
            do {
                return try store.submit(plan, sourcePath: file.path, sourceText: file.text, replace: false)
            } catch StoreError.shotListExists {
                // A submission whose commit the restart hid from us: it is in.
                return nil
            }
        }
        say("submitted \(file.list.name)" + (receipt.map { " (id \($0.shotListID))" } ?? " (already in)"))
    }

    /// `jobs: 40 succeeded, 3 running, ...`
    private func progress() throws -> String {
        let counts = try farm.database { store in
            try store.connection.execute("SELECT state, count(*) AS n FROM keyfarm.jobs GROUP BY state ORDER BY state").rows
                .map { "\(try $0.decode("n", as: Int.self)) \(try $0.decode("state", as: String.self))" }
        }
        return "jobs: " + (counts.isEmpty ? "none yet" : counts.joined(separator: ", "))
    }
}
