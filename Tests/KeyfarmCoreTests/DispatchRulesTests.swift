import Testing
@testable import KeyfarmCore

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy()

    @Test func fullJitterGrowsExponentiallyUpToTheCap() {
        #expect(policy.backOff(attempt: 1, random: 1) == 2)
        #expect(policy.backOff(attempt: 2, random: 1) == 4)
        #expect(policy.backOff(attempt: 5, random: 1) == 32)
        #expect(policy.backOff(attempt: 9, random: 1) == 300)   // 512 capped at 5 min
        #expect(policy.backOff(attempt: 40, random: 1) == 300)
        #expect(policy.backOff(attempt: 3, random: 0.5) == 4)
        #expect(policy.backOff(attempt: 3, random: 0) == 0)
    }

    @Test func transientAndProviderFailuresRetryUntilTheLastAttempt() {
        #expect(policy.decide(.transient, attempt: 1, maxAttempts: 3, random: 0.25) == .retry(after: 0.5))
        #expect(policy.decide(.providerFailed, attempt: 2, maxAttempts: 3, random: 0.5) == .retry(after: 2))
        #expect(policy.decide(.transient, attempt: 3, maxAttempts: 3, random: 0.5) == .fail(reason: "after 3 of 3 attempts"))
    }

    @Test func rateLimitsHonourRetryAfter() {
        #expect(policy.decide(.rateLimited, attempt: 1, maxAttempts: 3, retryAfter: 42, random: 0.9) == .retry(after: 42))
        #expect(policy.decide(.rateLimited, attempt: 1, maxAttempts: 3, retryAfter: nil, random: 0.5) == .retry(after: 1))
    }

    @Test func invalidIsTerminalAndLostRequeuesAtOnce() {
        #expect(policy.decide(.invalid, attempt: 1, maxAttempts: 10, random: 0.5) == .fail(reason: "invalid request, not retried"))
        #expect(policy.decide(.lost, attempt: 1, maxAttempts: 3, random: 0.9) == .retry(after: 0))
        // Lost attempts do not use up max_attempts; the store caps them (RetryPolicy.maxLostAttempts).
        #expect(policy.decide(.lost, attempt: 3, maxAttempts: 3, random: 0.9) == .retry(after: 0))
    }

    @Test func jitterSpreadsRetriesAcrossTheWindow() {
        // A fake, evenly spread random source: delays cover [0, ceiling) without clumping.
        let delays = (0..<100).map { policy.backOff(attempt: 4, random: Double($0) / 100) }
        #expect(delays.min() == 0)
        #expect(delays.max()! < 16)
        #expect(Set(delays).count == 100)
    }
}

@Suite struct WorkerRosterTests {
    let a: [UInt8] = Array("a/1".utf8), b: [UInt8] = Array("b/1".utf8)

    @Test func heartbeatsAreDueAfterOneSilentInterval() {
        var roster = WorkerRoster(heartbeatInterval: 1, liveness: 3)
        roster.join(identity: a, workerID: 1, name: "a", engines: ["smoke"], slots: 2, draining: false, now: 100)
        #expect(roster.sweep(now: 100.5)?.heartbeat ?? [] == [])
        #expect(roster.sweep(now: 101)?.heartbeat == [a])
        roster.sent(to: a, now: 101)
        #expect(roster.sweep(now: 101.9)?.heartbeat ?? [] == [])
    }

    @Test func aSweepRunsOnlyWhenADeadlineMayHavePassedAndAtMostOncePerInterval() {
        var roster = WorkerRoster(heartbeatInterval: 1, liveness: 3)
        #expect(roster.nextDeadline(after: 0) == nil)
        roster.join(identity: a, workerID: 1, name: "a", engines: ["smoke"], slots: 2, draining: false, now: 100)
        #expect(roster.nextDeadline(after: 100) == 101)
        #expect(roster.sweep(now: 100.5) == nil)
        let due = roster.sweep(now: 101)
        #expect(due?.heartbeat == [a])
        #expect(due?.lost.isEmpty == true)
        roster.sent(to: a, now: 101)
        // The next one falls an interval after that heartbeat; signs of life only move it later.
        #expect(roster.nextDeadline(after: 101) == 102)
        roster.heard(from: a, now: 101.5)
        #expect(roster.sweep(now: 101.99) == nil)
        // Thousands of workers do not make every turn a sweep: a worker due at once waits for
        // the sweep interval.
        roster.join(identity: b, workerID: 2, name: "b", engines: ["smoke"], slots: 2, draining: false, now: 101.1)
        #expect(roster.sweep(now: 102)?.heartbeat == [a])
        roster.sent(to: a, now: 102)
        #expect(roster.nextDeadline(after: 102) == 102.1)
        #expect(roster.sweep(now: 102.1)?.heartbeat == [b])
        roster.sent(to: b, now: 102.1)
        // Silent for the liveness window: removed by the sweep that finds it.
        let lost = roster.sweep(now: 104.6)
        #expect(lost?.lost.map(\.name) == ["a", "b"])
        #expect(roster.members.isEmpty)
        #expect(roster.nextDeadline(after: 104.6) == nil)
    }

    @Test func theIndexesAndTheFreeSlotTotalFollowEveryChange() {
        var roster = WorkerRoster()
        roster.join(identity: a, workerID: 1, name: "a", engines: ["*"], slots: 3, draining: false, now: 0)
        roster.join(identity: b, workerID: 2, name: "b", engines: ["*"], slots: 2, draining: false, now: 0)
        #expect(roster.member(named: "b")?.identity == b)
        #expect(roster.member(workerID: 1)?.name == "a")
        roster.assign(AttemptRef(jobID: 1, attempt: 1), to: a)
        roster.setDraining(b, true)
        #expect(roster.totalFreeSlots == 2)
        roster.setDraining(b, false)
        #expect(roster.totalFreeSlots == 4)
        // The same name on a new identity (a reconnect) replaces the old member in every index.
        let c: [UInt8] = Array("a/2".utf8)
        roster.join(identity: c, workerID: 1, name: "a", engines: ["*"], slots: 1, draining: false, now: 1)
        #expect(roster.member(named: "a")?.identity == c)
        #expect(roster.member(workerID: 1)?.identity == c)
        #expect(roster.totalFreeSlots == 3)
        roster.remove(b)
        #expect(roster.member(named: "b") == nil)
        #expect(roster.member(workerID: 2) == nil)
        #expect(roster.totalFreeSlots == 1)
        #expect(roster.totalFreeSlots == roster.members.values.reduce(0) { $0 + $1.freeSlots })
    }

    @Test func theSlotsVersionMovesWithSlotsAndNotWithSignsOfLife() {
        var roster = WorkerRoster()
        var seen = roster.slotsVersion
        func changed(_ roster: WorkerRoster) -> Bool {
            defer { seen = roster.slotsVersion }
            return roster.slotsVersion != seen
        }
        roster.join(identity: a, workerID: 1, name: "a", engines: ["*"], slots: 2, draining: false, now: 0)
        #expect(changed(roster))
        roster.heard(from: a, now: 0.5)
        roster.sent(to: a, now: 0.6)
        _ = roster.sweep(now: 1)
        #expect(!changed(roster))
        roster.assign(AttemptRef(jobID: 1, attempt: 1), to: a)
        #expect(changed(roster))
        roster.finish(AttemptRef(jobID: 1, attempt: 1))
        #expect(changed(roster))
        roster.setDraining(a, true)
        #expect(changed(roster))
        roster.remove(a)
        #expect(changed(roster))
    }

    @Test func aWorkerSilentForThreeIntervalsIsLostWithItsAttempts() {
        var roster = WorkerRoster(heartbeatInterval: 1, liveness: 3)
        roster.join(identity: a, workerID: 1, name: "a", engines: ["smoke"], slots: 2, draining: false, now: 0)
        roster.join(identity: b, workerID: 2, name: "b", engines: ["smoke"], slots: 2, draining: false, now: 0)
        roster.assign(AttemptRef(jobID: 7, attempt: 1), to: a)
        roster.heard(from: b, now: 2.5)
        let early = roster.sweep(now: 3)?.lost ?? []
        #expect(early.isEmpty)                              // exactly 3 s: not yet
        let dead = roster.sweep(now: 3.01)?.lost ?? []
        #expect(dead.map(\.name) == ["a"])
        #expect(dead[0].running == [AttemptRef(jobID: 7, attempt: 1)])
        #expect(roster.holder(of: AttemptRef(jobID: 7, attempt: 1)) == nil)
        #expect(roster.member(named: "b") != nil)
        let known = roster.heard(from: a, now: 4)
        #expect(!known)                                     // must say HELLO again
    }

    @Test func slotsFillAndFree() {
        var roster = WorkerRoster()
        roster.join(identity: a, workerID: 1, name: "a", engines: ["*"], slots: 2, draining: false, now: 0)
        roster.join(identity: b, workerID: 2, name: "b", engines: ["*"], slots: 1, draining: false, now: 0)
        #expect(roster.totalFreeSlots == 3)
        roster.assign(AttemptRef(jobID: 1, attempt: 1), to: a)
        #expect(roster.freeSlotsByCapabilities.map(\.engines) == [["*"]])
        #expect(roster.freeSlotsByCapabilities.first?.workers == [.init(workerID: 2, running: 0, free: 1),
                                                                 .init(workerID: 1, running: 1, free: 1)])
        roster.assign(AttemptRef(jobID: 2, attempt: 1), to: b)
        #expect(roster.totalFreeSlots == 1)
        let holder = roster.finish(AttemptRef(jobID: 2, attempt: 1))
        let again = roster.finish(AttemptRef(jobID: 2, attempt: 1))
        #expect(holder == b)
        #expect(again == nil)
        roster.setDraining(a, true)
        #expect(roster.freeSlotsByCapabilities.first?.workers.map(\.workerID) == [2])
    }

    @Test func aReconnectUnderANewIdentityReplacesTheOldOne() {
        var roster = WorkerRoster()
        roster.join(identity: a, workerID: 1, name: "w", engines: ["*"], slots: 2, draining: false, now: 0)
        roster.assign(AttemptRef(jobID: 5, attempt: 2), to: a)
        let replaced = roster.join(identity: b, workerID: 1, name: "w", engines: ["*"], slots: 2, draining: false, now: 1)
        #expect(replaced?.running == [AttemptRef(jobID: 5, attempt: 2)])
        #expect(roster.members.count == 1)
        #expect(roster.holder(of: AttemptRef(jobID: 5, attempt: 2)) == nil)
    }
}
