/// What a coordinator makes of a worker's HELLO, given the attempts the database says are
/// leased to that worker: pure, so the rules that decide adoption and loss are tested without
/// sockets or a database.
///
/// A HELLO can cross ASSIGNs. A worker that reconnects at once (after an "unknown worker"
/// DISCONNECT) says HELLO again before the ASSIGNs sent after its first WELCOME reach it, so
/// its `running` list cannot name them. Those attempts are not lost: their ASSIGN goes again,
/// on the new connection, and the worker (which keys attempts by job and attempt) answers a
/// duplicate with ACCEPTED.
public struct HelloReconciliation: Sendable, Equatable {
    /// Leased to the worker and reported running: it keeps them.
    public var adopt: [AttemptRef] = []
    /// Leased to this same process after its last WELCOME, never confirmed, and not reported:
    /// the HELLO crossed their ASSIGN, which is sent again.
    public var resend: [AttemptRef] = []
    /// Leased to it but neither reported nor possibly in flight: the worker lost them.
    public var lose: [AttemptRef] = []
    /// Reported, but not (or no longer) the worker's to run: it must stop them.
    public var abandon: [AttemptRef] = []

    public init(adopt: [AttemptRef] = [], resend: [AttemptRef] = [], lose: [AttemptRef] = [], abandon: [AttemptRef] = []) {
        self.adopt = adopt
        self.resend = resend
        self.lose = lose
        self.abandon = abandon
    }

    /// - Parameters:
    ///   - leased: the attempts the database says are leased to the worker.
    ///   - reported: the attempts the HELLO says it holds (running, or finished and unacknowledged).
    ///   - stopping: attempts the coordinator told to stop (overdue); a reported one is abandoned
    ///     again so that its RESULT closes it.
    ///   - unconfirmed: attempts whose ASSIGN went to this same process (same instance) and
    ///     that it has not answered yet (no ACCEPTED, no RESULT).
    public static func decide(leased: [AttemptRef], reported: Set<AttemptRef>, stopping: Set<AttemptRef>,
                              unconfirmed: Set<AttemptRef>) -> HelloReconciliation {
        var decision = HelloReconciliation()
        for ref in leased.sorted() {
            if stopping.contains(ref) && reported.contains(ref) { continue }
            if reported.contains(ref) {
                decision.adopt.append(ref)
            } else if unconfirmed.contains(ref) && !stopping.contains(ref) {
                decision.resend.append(ref)
            } else {
                decision.lose.append(ref)
            }
        }
        let kept = Set(leased).subtracting(stopping)
        decision.abandon = reported.filter { !kept.contains($0) }.sorted()
        return decision
    }
}
