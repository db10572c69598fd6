/// Where a job stands, and the moves between states the farm makes: one table, which the
/// database's CHECK and every state change the store performs are tested against.
public enum JobState: String, Sendable, CaseIterable, Codable {
    /// Its dependencies have not all succeeded.
    case waiting
    /// Ready for a worker (not before its `not_before`).
    case queued
    /// Ready, but its estimate does not fit a budget until one rises or a reservation ends.
    case blocked
    /// Sent to a worker in an ASSIGN.
    case leased
    /// The worker ACCEPTED it.
    case running
    case succeeded
    case failed
    case cancelled

    /// The states a job may move to from each state.
    public static let transitions: [JobState: Set<JobState>] = [
        // Released when its last dependency succeeds; fails with a dependency that failed for
        // good; cancelled with its list.
        .waiting: [.queued, .failed, .cancelled],
        // Claimed, or blocked by a budget; cancelled; waiting again when `select` gives a
        // stitch a take still rendering.
        .queued: [.leased, .blocked, .cancelled, .waiting],
        .blocked: [.queued, .waiting, .cancelled],
        // Accepted; ended; or back in the queue (lost, handed back, retried after a failure,
        // a reuse whose files are gone).
        .leased: [.running, .queued, .succeeded, .failed, .cancelled],
        .running: [.queued, .succeeded, .failed, .cancelled],
        // A stitch queued again by `select` (waiting while its new take renders).
        .succeeded: [.queued, .waiting],
        // `keyfarm retry` (waiting when a dependency must render again first); `select`.
        .failed: [.queued, .waiting],
        .cancelled: [],
    ]

    /// Whether the farm ever moves a job from this state to `next`.
    public func canMove(to next: JobState) -> Bool { Self.transitions[self]?.contains(next) ?? false }

    /// Whether the job's work is over (until an operator or a selection sends it back).
    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}
