import KeyfarmDecisions
import Testing

/// Leader election over the lease row, with a test clock.
@Suite struct LeadershipTests {
    @Test func aStandbyTakesAFreeLeaseAndLeadsAtItsEpoch() {
        var leadership = Leadership()
        #expect(leadership.handle(.tick, now: 0) == [.acquire(seconds: 2)])
        // One question at a time.
        #expect(leadership.handle(.tick, now: 0.1).isEmpty)
        #expect(leadership.handle(.acquired(epoch: 7), now: 0.1) == [.lead(epoch: 7)])
        #expect(leadership.role == .leading(epoch: 7))
    }

    @Test func aStandbyLearnsTheLeaderAndAsksAgainEveryHalfSecond() {
        var leadership = Leadership()
        _ = leadership.handle(.tick, now: 0)
        #expect(leadership.handle(.heldByOther(endpoint: "tcp://a:5555", epoch: 3), now: 0.01).isEmpty)
        #expect(leadership.role == .standby(leader: "tcp://a:5555", epoch: 3))
        #expect(leadership.handle(.tick, now: 0.4).isEmpty)
        #expect(leadership.handle(.tick, now: 0.5) == [.acquire(seconds: 2)])
    }

    @Test func theLeaderRenewsAndStepsDownWhenItCannotBeforeItsLeaseCanBeTaken() {
        var leadership = Leadership()
        _ = leadership.handle(.tick, now: 0)
        _ = leadership.handle(.acquired(epoch: 1), now: 0)
        #expect(leadership.handle(.tick, now: 0.5) == [.renew(epoch: 1, seconds: 2)])
        #expect(leadership.handle(.renewed, now: 0.52).isEmpty)
        #expect(leadership.handle(.tick, now: 1.0) == [.renew(epoch: 1, seconds: 2)])
        // The database stops answering. The last renewal counts from when it was asked (0.5),
        // not answered (0.52): at 2.0 the lease may be taken within half a second.
        #expect(leadership.handle(.databaseUnreachable, now: 1.2).isEmpty)
        #expect(leadership.handle(.tick, now: 1.5) == [.renew(epoch: 1, seconds: 2)])
        #expect(leadership.handle(.databaseUnreachable, now: 1.6).isEmpty)
        #expect(leadership.handle(.tick, now: 1.99).isEmpty)
        #expect(leadership.nextWakeUp(after: 1.99) == 2.0)
        #expect(leadership.handle(.tick, now: 2.0) == [.renew(epoch: 1, seconds: 2)])
        #expect(leadership.handle(.databaseUnreachable, now: 2.05) == [.stepDown(reason: "the lease was not renewed for 1.5 s")])
        #expect(!leadership.isLeading)
    }

    @Test func aLongTurnRenewsLateAndLeadsOnWhenNobodyTookTheLease() {
        var leadership = Leadership()
        _ = leadership.handle(.tick, now: 0)
        _ = leadership.handle(.acquired(epoch: 5), now: 0)
        // A turn that took 1.8 s: past the margin, the first tick renews at once.
        #expect(leadership.handle(.tick, now: 1.8) == [.renew(epoch: 5, seconds: 2)])
        #expect(leadership.handle(.renewed, now: 1.81).isEmpty)
        #expect(leadership.role == .leading(epoch: 5))
        #expect(leadership.handle(.tick, now: 2.0).isEmpty)
    }

    @Test func aRefusedRenewalOrAFencedCommitDeposesTheLeader() {
        var refused = Leadership()
        _ = refused.handle(.tick, now: 0)
        _ = refused.handle(.acquired(epoch: 4), now: 0)
        _ = refused.handle(.tick, now: 0.5)
        #expect(refused.handle(.renewalRefused, now: 0.6) == [.stepDown(reason: "another coordinator took the lease")])
        #expect(refused.role == .standby(leader: nil, epoch: 4))
        // It stands by and asks again at once (the new leader's lease answers).
        #expect(refused.handle(.tick, now: 0.6) == [.acquire(seconds: 2)])

        var fenced = Leadership()
        _ = fenced.handle(.tick, now: 0)
        _ = fenced.handle(.acquired(epoch: 4), now: 0)
        #expect(fenced.handle(.fenced, now: 0.2)
                == [.stepDown(reason: "a commit was refused: another coordinator leads at a later epoch")])
        // A renewal answer that arrives after stepping down changes nothing.
        #expect(fenced.handle(.renewed, now: 0.3).isEmpty)
        #expect(!fenced.isLeading)
    }

    @Test func aPausedLeaderThatWakesRenewsFirstAndStepsDownWhenRefused() {
        var leadership = Leadership()
        _ = leadership.handle(.tick, now: 0)
        _ = leadership.handle(.acquired(epoch: 2), now: 0)
        // SIGSTOP for ten seconds: the first thing it does on waking is ask for its lease.
        #expect(leadership.handle(.tick, now: 10) == [.renew(epoch: 2, seconds: 2)])
        #expect(leadership.handle(.renewalRefused, now: 10.01) == [.stepDown(reason: "another coordinator took the lease")])
        #expect(leadership.role == .standby(leader: nil, epoch: 2))
    }
}
