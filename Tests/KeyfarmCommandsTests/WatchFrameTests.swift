import Foundation
@testable import KeyfarmCommands
import KeyfarmCore
@testable import KeyfarmStore
import Testing

/// `keyfarm watch`'s frames, rendered from a snapshot without a database or a terminal.
@Suite struct WatchFrameTests {
    static let created = Date(timeIntervalSince1970: 1_800_000_000)
    static let now = created.addingTimeInterval(192)

    static func status(name: String = "trailer", state: String = "running", progress: Double = 0.52, succeeded: Int = 5,
                       budget: Int64? = 1_000) -> ShotListStatus {
        ShotListStatus(id: 3, project: "films", name: name, state: state, shots: 2, jobsTotal: 9, jobsSucceeded: succeeded,
                       jobsFailed: 0, jobsRunning: 1, jobsCancelled: 0, progress: progress, estimatedCredits: 900,
                       spentCredits: 412, budgetCredits: budget, reservedCredits: 71, jobsBlocked: 0, sourcePath: "/t.yaml",
                       createdAt: created, updatedAt: created.addingTimeInterval(300))
    }

    static let worker = WorkerStatus(id: 1, name: "render-01", host: nil, version: nil, engines: ["interpolate", "stitch"], slots: 4,
                                     state: "busy", draining: false, runningJobs: 1, succeededAttempts: 5, failedAttempts: 1,
                                     lastSeenAt: nil, blocklistedShots: [])

    static func snapshot(measured: Bool = true, shots: Int = 2, state: String = "running") -> WatchSnapshot {
        var list = WatchedList(status: status(state: state), shots: [
            WatchedShot(key: "sh010", state: "running", progress: 0.5, frames: 120,
                        segments: ["succeeded": 2, "running": 1, "queued": 1], stitch: "waiting", failure: nil),
            WatchedShot(key: "sh020", state: "succeeded", progress: 1, frames: 48, segments: ["succeeded": 2], stitch: "succeeded",
                        failure: nil, review: "approved"),
        ], work: [
            CompletionEstimate.EngineWork(engine: "interpolate", unfinishedJobs: 2, remainingJobs: 1.5, runningJobs: 1,
                                          measuredJobs: measured ? 4 : 0, meanSeconds: measured ? 80 : nil),
            CompletionEstimate.EngineWork(engine: "stitch", unfinishedJobs: 1, remainingJobs: 1, runningJobs: 0,
                                          measuredJobs: measured ? 1 : 0, meanSeconds: measured ? 40 : nil),
        ], workers: [WatchedList.WorkerShare(name: "render-01", jobs: 1)], retrying: 0,
           projectBudget: WatchedList.ProjectBudget(credits: 5_000, spent: 1_900, reserved: 100))
        for extra in 2..<max(shots, 2) {
            list.shots.append(WatchedShot(key: "sh\(extra)0", state: "queued", progress: 0, frames: 24, segments: ["queued": 1],
                                          stitch: "waiting", failure: nil))
        }
        return WatchSnapshot(lists: [list], workers: [worker])
    }

    /// What a line shows on a terminal: without escape sequences.
    func visible(_ line: String) -> String {
        line.replacing(#/\x1B\[[0-9;?]*[A-Za-z]/#, with: "")
    }

    @Test func aTerminalFrameHasABarPerShotWithSegmentsCreditsWorkersAndTheETAInColour() {
        let lines = WatchFrame.terminalLines(Self.snapshot(), overview: false, now: Self.now, width: 120, height: 40, ansi: true)
        let shown = lines.map(visible)
        #expect(shown.count == 5)
        #expect(shown[0] == "trailer (project films) · running · 52% · 5/9 jobs done · elapsed 3m12s · ETA 2m40s")
        #expect(shown[1].hasPrefix("  sh010  " + String(repeating: "█", count: 15) + String(repeating: "░", count: 15) + "  50%  "))
        #expect(shown[1].hasSuffix("segments 2 done, 1 running, 1 queued · stitch waiting"))
        #expect(shown[2].hasSuffix(" 100%  segments 2 done · stitch done · approved"))
        #expect(shown[3] == "  credits: 412 spent of 900 estimated, 71 reserved · budget 1000, 517 left · project budget 5000, 3000 left")
        #expect(shown[4] == "  workers: render-01 (1) · 1 connected")
        #expect(lines[0].hasPrefix("\u{1B}[1mtrailer\u{1B}[0m"))
        #expect(lines[1].contains("\u{1B}[32m2 done\u{1B}[0m"), "done segments are green")
        #expect(lines[1].contains("\u{1B}[36m1 running\u{1B}[0m"), "running segments are cyan")
        #expect(lines[2].contains("\u{1B}[32m" + String(repeating: "█", count: 30) + "\u{1B}[0m"), "a finished shot's bar is green")
    }

    @Test func aFrameFitsTheTerminalsWidthAndHeight() {
        let narrow = WatchFrame.terminalLines(Self.snapshot(), overview: false, now: Self.now, width: 40, height: 40, ansi: true)
        for line in narrow.map(visible) { #expect(line.count <= 40, "\(line)") }
        #expect(visible(narrow[0]).hasSuffix("…"))

        let tall = WatchFrame.terminalLines(Self.snapshot(shots: 30), overview: false, now: Self.now, width: 80, height: 12, ansi: true)
        #expect(tall.count == 11, "one row stays free for the cursor")
        #expect(visible(tall.last!) == "  … 23 more lines (a taller terminal shows them)")

        let plain = WatchFrame.terminalLines(Self.snapshot(), overview: false, now: Self.now, width: 80, height: 24, ansi: false)
        #expect(!plain.joined().contains("\u{1B}"))
    }

    @Test func theETAIsADashUntilSomethingWasMeasuredAndDoneOnceTheListSucceeded() {
        let unmeasured = WatchFrame.terminalLines(Self.snapshot(measured: false), overview: false, now: Self.now, width: 200,
                                                  height: 40, ansi: false)
        #expect(unmeasured[0].hasSuffix("· ETA —"))
        var partly = Self.snapshot()
        partly.lists[0].work[1].meanSeconds = nil
        partly.lists[0].work[1].measuredJobs = 0
        #expect(WatchFrame.eta(partly.lists[0], now: Self.now) == "ETA ≥ 2m00s")
        let done = Self.snapshot(state: "succeeded")
        #expect(WatchFrame.eta(done.lists[0], now: Self.now) == "done in 5m00s")
    }

    @Test func theOverviewHasABarPerListAndEveryConnectedWorker() {
        let lines = WatchFrame.terminalLines(Self.snapshot(), overview: true, now: Self.now, width: 160, height: 40, ansi: true)
            .map(visible)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("keyfarm · 1 active shot list · "))
        #expect(lines[1].hasPrefix("  trailer  █"))
        #expect(lines[1].hasSuffix(" 52%  running  5/9 jobs · ETA 2m40s · 412/900 credits (budget 1000)"))
        #expect(lines[2] == "workers: 1 connected, 1 of 4 slots busy")
        #expect(lines[3] == "  render-01  busy      1/4 slots  interpolate,stitch")
    }

    @Test func linesForLogsSayOneFactEachAndKeepTheListsSummary() {
        let lines = WatchFrame.plainLines(Self.snapshot(), overview: false, now: Self.now)
        #expect(lines.map(\.key) == ["3", "3/sh010", "3/sh020", "3/credits", "3/workers", "3/eta"])
        #expect(lines[0].text == "trailer: running, 52%, 5/9 done, 1 running, 412 credits spent")
        #expect(lines[1].text == "trailer/sh010: [##########..........] 50%, segments 2 done, 1 running, 1 queued · stitch waiting")
        #expect(lines[3].text.hasPrefix("trailer: credits 412 spent of 900 estimated"))
        #expect(lines[5].text == "trailer: ETA 2m40s")
        #expect(!lines.map(\.text).joined().contains("\u{1B}"))
    }
}
