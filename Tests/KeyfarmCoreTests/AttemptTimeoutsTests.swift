import Testing
@testable import KeyfarmCore

@Suite struct DurationTextTests {
    @Test func readsSecondsAndUnits() {
        #expect(DurationText.seconds("90") == 90)
        #expect(DurationText.seconds("90s") == 90)
        #expect(DurationText.seconds("500ms") == 0.5)
        #expect(DurationText.seconds("10m") == 600)
        #expect(DurationText.seconds("2h") == 7200)
        #expect(DurationText.seconds("1.5h") == 5400)
        #expect(DurationText.seconds("1h30m") == 5400)
        #expect(DurationText.seconds("1d") == 86_400)
        #expect(DurationText.seconds("0") == 0)
    }

    @Test func refusesWhatIsNotADuration() {
        for text in ["", "m", "10x", "-5", "5 m", "1h30", "1e3", "1..5s", "31d", "2H"] {
            #expect(DurationText.seconds(text) == nil, "\(text) was read as a duration")
        }
    }

    @Test func formatsTheWayItReads() {
        #expect(DurationText.format(2) == "2s")
        #expect(DurationText.format(0.5) == "0.5s")
        #expect(DurationText.format(90) == "1m30s")
        #expect(DurationText.format(7200) == "2h")
        for seconds: Double in [2, 0.5, 90, 600, 5400, 86_461] {
            #expect(DurationText.seconds(DurationText.format(seconds)) == seconds)
        }
    }
}

@Suite struct AttemptTimeoutsTests {
    @Test func defaultsAreTwoHoursAndFiveMinutesOfSilence() {
        let timeouts = AttemptTimeouts()
        #expect(timeouts.limit(engine: "luma/ray-2", kind: "segment") == 7200)
        #expect(timeouts.limit(engine: nil, kind: "stitch") == 7200)
        #expect(timeouts.stallAfter == 300)
    }

    @Test func theMostSpecificKeyWins() throws {
        var timeouts = AttemptTimeouts()
        for entry in ["1h", "interpolate=10m", "luma=30m", "luma/ray-3.2=45m", "fal/*=20m", "stitch=15m", "smoke=0"] {
            try timeouts.apply(entry)
        }
        #expect(timeouts.limit(engine: "interpolate", kind: "segment") == 600)
        #expect(timeouts.limit(engine: "luma/ray-2", kind: "segment") == 1800)
        #expect(timeouts.limit(engine: "luma/ray-3.2", kind: "segment") == 2700)
        #expect(timeouts.limit(engine: "fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video", kind: "segment") == 1200)
        #expect(timeouts.limit(engine: "wavespeed/some-model", kind: "segment") == 3600)
        #expect(timeouts.limit(engine: nil, kind: "stitch") == 900)
        #expect(timeouts.limit(engine: nil, kind: "smoke") == nil, "0 lifts the default")
        try timeouts.apply("0")
        #expect(timeouts.limit(engine: "wavespeed/some-model", kind: "segment") == nil)
    }

    @Test func aListFromTheEnvironmentTakesCommasAndSpaces() throws {
        var timeouts = AttemptTimeouts()
        try timeouts.applyList("interpolate=10m, luma/*=30m  90s")
        #expect(timeouts.limits == ["interpolate": 600, "luma/*": 1800])
        #expect(timeouts.defaultLimit == 90)
        try timeouts.applyStall("0")
        #expect(timeouts.stallAfter == nil)
        try timeouts.applyStall("45s")
        #expect(timeouts.stallAfter == 45)
        #expect(timeouts.summary == "default=1m30s interpolate=10m luma/*=30m stall=45s")
    }

    @Test func badEntriesSayWhatIsWrong() {
        var timeouts = AttemptTimeouts()
        #expect(throws: AttemptTimeoutError.self) { try timeouts.apply("interpolat=10m") }
        do {
            try timeouts.apply("interpolat=10m")
        } catch {
            #expect(error.description.hasPrefix("\"interpolat\" in \"interpolat=10m\" is not an engine"))
        }
        do {
            try timeouts.apply("luma=ten minutes")
        } catch {
            #expect(error.description.hasPrefix("\"ten minutes\" for luma is not a duration"))
        }
        do {
            try timeouts.applyStall("5x")
        } catch {
            #expect(error.description.hasPrefix("\"5x\" for the stall timeout is not a duration"))
        }
        #expect(throws: AttemptTimeoutError.self) { try timeouts.apply("=10m") }
        #expect(throws: AttemptTimeoutError.self) { try timeouts.apply("kling/*=10m") }
        #expect(timeouts == AttemptTimeouts(), "a bad entry changed the settings")
    }
}

@Suite struct AttemptClocksTests {
    let a = AttemptRef(jobID: 1, attempt: 1)
    let b = AttemptRef(jobID: 2, attempt: 1)

    @Test func anAttemptWithoutProgressStallsAndProgressKeepsItGoing() {
        var clocks = AttemptClocks(stallAfter: 5)
        clocks.start(a, limit: nil, now: 0)
        clocks.start(b, limit: nil, now: 0)
        for second in 1...9 { clocks.heard(a, now: Double(second)) }
        #expect(clocks.removeOverdue(now: 4.9).isEmpty)
        let overdue = clocks.removeOverdue(now: 9)
        #expect(overdue.map(\.ref) == [b])
        #expect(overdue.first?.overdue == .stalled(silence: 5))
        #expect(overdue.first?.overdue.errorClass == .stalled)
        #expect(clocks.isRunning(a) && !clocks.isRunning(b))
        #expect(clocks.removeOverdue(now: 9).isEmpty, "an overdue attempt is reported once")
    }

    @Test func theAttemptTimeoutCountsFromTheStartWhateverTheProgress() {
        var clocks = AttemptClocks(stallAfter: 5)
        clocks.start(a, limit: 12, now: 0)
        for second in 1...20 { clocks.heard(a, now: Double(second)) }
        let overdue = clocks.removeOverdue(now: 12.5)
        #expect(overdue.count == 1 && overdue.first?.overdue == .timedOut(limit: 12))
        #expect(overdue.first?.overdue.errorClass == .timeout)
    }

    @Test func theDeadlinePassedFirstNamesTheClass() {
        var clocks = AttemptClocks(stallAfter: 5)
        clocks.start(a, limit: 3, now: 0)     // times out at 3, would stall at 5
        clocks.start(b, limit: 30, now: 0)    // stalls at 5
        let overdue = clocks.removeOverdue(now: 100)
        #expect(overdue.map(\.ref) == [a, b])
        #expect(overdue.map(\.overdue) == [.timedOut(limit: 3), .stalled(silence: 5)])
    }

    @Test func withNoLimitsNothingIsEverOverdue() {
        var clocks = AttemptClocks(stallAfter: nil)
        clocks.start(a, limit: nil, now: 0)
        clocks.heard(b, now: 1)  // not running: ignored
        #expect(clocks.removeOverdue(now: 1e9).isEmpty)
        #expect(clocks.count == 1)
        clocks.stop(a)
        #expect(clocks.count == 0)
    }

    @Test func timeoutsAndStallsRetryWithBackOff() {
        let policy = RetryPolicy()
        #expect(policy.decide(.timeout, attempt: 1, maxAttempts: 3, random: 0.5) == .retry(after: 1))
        #expect(policy.decide(.stalled, attempt: 2, maxAttempts: 3, random: 0.5) == .retry(after: 2))
        #expect(policy.decide(.stalled, attempt: 3, maxAttempts: 3, random: 0.5) == .fail(reason: "after 3 of 3 attempts"))
    }
}
