/// One attempt at one job: how the coordinator and workers name a unit of running work.
public struct AttemptRef: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var jobID: Int64
    public var attempt: Int

    public init(jobID: Int64, attempt: Int) {
        self.jobID = jobID
        self.attempt = attempt
    }

    public static func < (lhs: AttemptRef, rhs: AttemptRef) -> Bool {
        (lhs.jobID, lhs.attempt) < (rhs.jobID, rhs.attempt)
    }

    public var description: String { "job \(jobID) attempt \(attempt)" }
}

/// The coordinator's view of its connected workers: who they are, what they run, how many
/// slots are free, and whether they are still alive (Paranoid Pirate heartbeating). Pure:
/// time is an input (seconds on a monotonic clock), so liveness is tested without sleeping.
public struct WorkerRoster: Sendable {
    /// A connected worker, keyed by its ZeroMQ routing identity.
    public struct Member: Sendable, Equatable {
        public var identity: [UInt8]
        public var workerID: Int64
        public var name: String
        /// Random per worker process: a new one is a restart.
        public var instance: String
        public var engines: [String]
        public var slots: Int
        public var running: Set<AttemptRef>
        public var draining: Bool
        public var lastHeard: Double
        public var lastSent: Double

        public var freeSlots: Int { draining ? 0 : Swift.max(slots - running.count, 0) }
    }

    public var heartbeatInterval: Double
    public var liveness: Int
    public private(set) var members: [[UInt8]: Member] = [:]
    private var holders: [AttemptRef: [UInt8]] = [:]

    public init(heartbeatInterval: Double = 1, liveness: Int = 3) {
        self.heartbeatInterval = heartbeatInterval
        self.liveness = liveness
    }

    /// Seconds of silence after which a worker is lost.
    public var deadAfter: Double { heartbeatInterval * Double(liveness) }

    /// Adds a worker that said HELLO. A member of the same name on another identity (the same
    /// worker reconnected, or restarted) is removed and returned, with what it was running.
    @discardableResult
    public mutating func join(identity: [UInt8], workerID: Int64, name: String, instance: String = "",
                              engines: [String], slots: Int, draining: Bool, now: Double) -> Member? {
        var replaced: Member?
        if let previous = members.values.first(where: { $0.name == name && $0.identity != identity }) {
            replaced = remove(previous.identity)
        }
        if let same = members[identity] {
            for ref in same.running { holders[ref] = nil }
        }
        members[identity] = Member(identity: identity, workerID: workerID, name: name, instance: instance,
                                   engines: engines, slots: slots,
                                   running: [], draining: draining, lastHeard: now, lastSent: now)
        return replaced
    }

    /// Notes a sign of life; false when the identity is not a member (it must say HELLO).
    @discardableResult
    public mutating func heard(from identity: [UInt8], now: Double) -> Bool {
        guard members[identity] != nil else { return false }
        members[identity]!.lastHeard = now
        return true
    }

    /// Notes that something was sent to a worker (so no heartbeat is due yet).
    public mutating func sent(to identity: [UInt8], now: Double) {
        members[identity]?.lastSent = now
    }

    public mutating func setDraining(_ identity: [UInt8], _ draining: Bool) {
        members[identity]?.draining = draining
    }

    /// Workers that heard nothing from us for one interval.
    public func dueForHeartbeat(now: Double) -> [[UInt8]] {
        members.values.filter { now - $0.lastSent >= heartbeatInterval }.map(\.identity).sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Removes and returns the workers silent for `liveness` intervals.
    public mutating func removeDead(now: Double) -> [Member] {
        let dead = members.values.filter { now - $0.lastHeard > deadAfter }.map(\.identity)
        return dead.compactMap { remove($0) }.sorted { $0.name < $1.name }
    }

    @discardableResult
    public mutating func remove(_ identity: [UInt8]) -> Member? {
        guard let member = members.removeValue(forKey: identity) else { return nil }
        for ref in member.running where holders[ref] == identity { holders[ref] = nil }
        return member
    }

    /// Records that a worker runs an attempt (sent in ASSIGN, or adopted after a restart).
    public mutating func assign(_ ref: AttemptRef, to identity: [UInt8]) {
        guard members[identity] != nil else { return }
        members[identity]!.running.insert(ref)
        holders[ref] = identity
    }

    /// Forgets an attempt (its result is recorded, or it was cancelled); returns who held it.
    @discardableResult
    public mutating func finish(_ ref: AttemptRef) -> [UInt8]? {
        guard let identity = holders.removeValue(forKey: ref) else { return nil }
        members[identity]?.running.remove(ref)
        return identity
    }

    public func holder(of ref: AttemptRef) -> [UInt8]? { holders[ref] }

    public func member(_ identity: [UInt8]) -> Member? { members[identity] }

    public func member(named name: String) -> Member? { members.values.first { $0.name == name } }

    /// Whether a member was heard from within the liveness window.
    public func isAlive(_ identity: [UInt8], now: Double) -> Bool {
        guard let member = members[identity] else { return false }
        return now - member.lastHeard <= deadAfter
    }

    public var totalFreeSlots: Int { members.values.reduce(0) { $0 + $1.freeSlots } }

    /// Members with free slots, fewest running first so that work spreads across the farm.
    public var withFreeSlots: [Member] {
        members.values.filter { $0.freeSlots > 0 }.sorted {
            ($0.running.count, $0.name) < ($1.running.count, $1.name)
        }
    }

    /// When the next heartbeat or liveness deadline falls, for the reactor's poll timeout.
    public func nextDeadline(after now: Double) -> Double? {
        members.values.flatMap { [$0.lastSent + heartbeatInterval, $0.lastHeard + deadAfter] }.min()
    }
}
