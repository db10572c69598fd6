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

    @Test func theLeaderRenewsAndStepsDownBeforeItsLeaseCanBeTaken() {
        var leadership = Leadership()
        _ = leadership.handle(.tick, now: 0)
        _ = leadership.handle(.acquired(epoch: 1), now: 0)
        #expect(leadership.handle(.tick, now: 0.5) == [.renew(epoch: 1, seconds: 2)])
        #expect(leadership.handle(.renewed, now: 0.52).isEmpty)
        #expect(leadership.handle(.tick, now: 1.0) == [.renew(epoch: 1, seconds: 2)])
        // The database stops answering: the leader stops acting 1.5 s after its last renewal,
        // half a second before a standby may take the lease (by the database's clock).
        #expect(leadership.handle(.databaseUnreachable, now: 1.2).isEmpty)
        #expect(leadership.handle(.tick, now: 1.5) == [.renew(epoch: 1, seconds: 2)])
        _ = leadership.handle(.databaseUnreachable, now: 1.6)
        // The last renewal counts from when it was asked (0.5), not answered (0.52).
        #expect(leadership.handle(.tick, now: 1.99) == [])
        #expect(leadership.nextWakeUp(after: 1.99) == 2.0)
        #expect(leadership.handle(.tick, now: 2.0) == [.stepDown(reason: "the lease was not renewed for 1.5 s")])
        #expect(!leadership.isLeading)
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

    @Test func aPausedLeaderThatWakesStepsDownOnItsFirstTick() {
        var leadership = Leadership()
        _ = leadership.handle(.tick, now: 0)
        _ = leadership.handle(.acquired(epoch: 2), now: 0)
        // SIGSTOP for ten seconds: the first thing it does on waking is stop acting.
        #expect(leadership.handle(.tick, now: 10) == [.stepDown(reason: "the lease was not renewed for 10.0 s")])
    }
}
