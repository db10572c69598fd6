import KeyfarmCore
import Testing

/// The coordinator's rules for a HELLO, without sockets: adopt, send again, lose, abandon.
@Suite struct HelloReconciliationTests {
    let a = AttemptRef(jobID: 1, attempt: 1), b = AttemptRef(jobID: 2, attempt: 1), c = AttemptRef(jobID: 3, attempt: 2)
    let d = AttemptRef(jobID: 4, attempt: 1)

    @Test func aReconnectAdoptsWhatItRunsAndLosesWhatItDoesNot() {
        let decision = HelloReconciliation.decide(leased: [a, b], reported: [a], stopping: [], unconfirmed: [])
        #expect(decision == HelloReconciliation(adopt: [a], lose: [b]))
    }

    @Test func aHelloThatCrossesAnAssignFromTheSameProcessLosesNothing() {
        // The worker said HELLO again before the ASSIGNs sent after its first WELCOME reached it.
        let decision = HelloReconciliation.decide(leased: [a, b, c], reported: [], stopping: [], unconfirmed: [a, b, c])
        #expect(decision == HelloReconciliation(resend: [a, b, c]))
        // Before this rule, all three were lost (each loss counting toward the job's cap of ten).
        #expect(decision.lose.isEmpty)
    }

    @Test func anAssignTheWorkerAnsweredIsNotInFlight() {
        // `a` was ACCEPTED before the HELLO: the worker knew it and did not report it: lost.
        let decision = HelloReconciliation.decide(leased: [a, b], reported: [], stopping: [], unconfirmed: [b])
        #expect(decision == HelloReconciliation(resend: [b], lose: [a]))
    }

    @Test func stoppedAttemptsAreAbandonedOrLostNeverResent() {
        let decision = HelloReconciliation.decide(leased: [a, b, c], reported: [a, d], stopping: [a, b], unconfirmed: [b])
        // `a` is being stopped and reported: abandoned again so its RESULT closes it; `b` was
        // stopped and is gone: lost; `c` is neither: lost; `d` is not its own: abandoned.
        #expect(decision == HelloReconciliation(lose: [b, c], abandon: [a, d]))
    }
}
