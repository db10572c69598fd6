/// When each attempt on a worker started and when it last showed a sign of progress, so that
/// the coordinator can stop attempts that run past their timeout or go silent. Pure: time is
/// an input (seconds on a monotonic clock). The clocks live in memory only: after a coordinator
/// restart, adopted attempts start them again.
public struct AttemptClocks: Sendable {
    /// Why an attempt is overdue.
    public enum Overdue: Sendable, Equatable {
        /// It ran `limit` seconds, its engine's attempt timeout.
        case timedOut(limit: Double)
        /// Nothing was heard of it for `silence` seconds, the stall timeout.
        case stalled(silence: Double)

        public var errorClass: ErrorClass {
            switch self {
            case .timedOut: .timeout
            case .stalled: .stalled
            }
        }
    }

    struct Clock: Sendable {
        var started: Double
        var lastHeard: Double
        var limit: Double?
    }

    /// Seconds of silence after which an attempt is stalled; nil never.
    public var stallAfter: Double?
    private var clocks: [AttemptRef: Clock] = [:]

    public init(stallAfter: Double?) { self.stallAfter = stallAfter }

    /// Starts an attempt's clocks (ASSIGN sent, or an attempt adopted), with its attempt timeout.
    public mutating func start(_ ref: AttemptRef, limit: Double?, now: Double) {
        clocks[ref] = Clock(started: now, lastHeard: now, limit: limit)
    }

    /// Notes a sign of progress (ACCEPTED, PROGRESS, SUBMITTED); attempts not running are ignored.
    public mutating func heard(_ ref: AttemptRef, now: Double) {
        clocks[ref]?.lastHeard = now
    }

    /// Forgets an attempt (it ended, or was lost).
    public mutating func stop(_ ref: AttemptRef) {
        clocks[ref] = nil
    }

    public var count: Int { clocks.count }

    public func isRunning(_ ref: AttemptRef) -> Bool { clocks[ref] != nil }

    /// Removes and returns the attempts past a deadline at `now`, with the deadline they passed
    /// first, earliest first.
    public mutating func removeOverdue(now: Double) -> [(ref: AttemptRef, overdue: Overdue)] {
        var due: [(ref: AttemptRef, at: Double, overdue: Overdue)] = []
        for (ref, clock) in clocks {
            var deadline: (at: Double, overdue: Overdue)?
            if let stallAfter, now - clock.lastHeard >= stallAfter {
                deadline = (clock.lastHeard + stallAfter, .stalled(silence: stallAfter))
            }
            if let limit = clock.limit, now - clock.started >= limit, clock.started + limit < deadline?.at ?? .infinity {
                deadline = (clock.started + limit, .timedOut(limit: limit))
            }
            if let deadline { due.append((ref, deadline.at, deadline.overdue)) }
        }
        for entry in due { clocks[entry.ref] = nil }
        return due.sorted { ($0.at, $0.ref) < ($1.at, $1.ref) }.map { ($0.ref, $0.overdue) }
    }
}
