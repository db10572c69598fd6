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
        /// What it offers, sorted.
        public var engines: [String]
        public var slots: Int
        public var running: Set<AttemptRef>
        public var draining: Bool
        /// Its entry in the roster's table of signs of life.
        var signs: Int

        public var freeSlots: Int { draining ? 0 : Swift.max(slots - running.count, 0) }
    }

    public var heartbeatInterval: Double
    public var liveness: Int
    /// The least time between two sweeps of the whole roster (`sweep`): heartbeats go out and
    /// losses are found up to this late, and a coordinator with thousands of workers does not
    /// scan them all on every reactor turn.
    public var sweepInterval: Double
    public private(set) var members: [[UInt8]: Member] = [:]
    private var holders: [AttemptRef: [UInt8]] = [:]
    /// Indexes of `members` by name and by worker id.
    private var byName: [String: [UInt8]] = [:]
    private var byWorkerID: [Int64: [UInt8]] = [:]
    /// The sum of every member's free slots.
    public private(set) var totalFreeSlots = 0
    /// No heartbeat or liveness deadline falls before this (a lower bound: signs of life only
    /// move deadlines later).
    private var nextSweep = Double.infinity
    /// When each member was last heard from and last sent something, in a flat table a sweep
    /// reads without touching the members themselves; freed entries are reused.
    private var signs: [Signs] = []
    private var freeSigns: [Int] = []
    /// Changes whenever a member joins or leaves or its free slots change (not on signs of
    /// life), so that a claim's slot list can be kept while nothing it depends on changed.
    public private(set) var slotsVersion = 0

    struct Signs {
        var lastHeard: Double
        var lastSent: Double
        var identity: [UInt8]?
    }

    public init(heartbeatInterval: Double = 1, liveness: Int = 3) {
        self.heartbeatInterval = heartbeatInterval
        self.liveness = liveness
        sweepInterval = heartbeatInterval / 100
    }

    /// Seconds of silence after which a worker is lost.
    public var deadAfter: Double { heartbeatInterval * Double(liveness) }

    /// Adds a worker that said HELLO. A member of the same name on another identity (the same
    /// worker reconnected, or restarted) is removed and returned, with what it was running.
    @discardableResult
    public mutating func join(identity: [UInt8], workerID: Int64, name: String, instance: String = "",
                              engines: [String], slots: Int, draining: Bool, now: Double) -> Member? {
        var replaced: Member?
        if let previous = member(named: name), previous.identity != identity {
            replaced = remove(previous.identity)
        }
        remove(identity)
        let entry = Signs(lastHeard: now, lastSent: now, identity: identity)
        let index: Int
        if let reused = freeSigns.popLast() {
            index = reused
            signs[index] = entry
        } else {
            index = signs.count
            signs.append(entry)
        }
        let member = Member(identity: identity, workerID: workerID, name: name, instance: instance,
                            engines: engines.sorted(), slots: slots, running: [], draining: draining, signs: index)
        members[identity] = member
        slotsVersion &+= 1
        byName[name] = identity
        byWorkerID[workerID] = identity
        totalFreeSlots += member.freeSlots
        nextSweep = min(nextSweep, now + min(heartbeatInterval, deadAfter))
        return replaced
    }

    /// Changes a member, keeping the free slot total.
    private mutating func update(_ identity: [UInt8], _ change: (inout Member) -> Void) {
        guard let before = members[identity]?.freeSlots else { return }
        change(&members[identity]!)
        totalFreeSlots += members[identity]!.freeSlots - before
        slotsVersion &+= 1
    }

    /// Notes a sign of life; false when the identity is not a member (it must say HELLO).
    @discardableResult
    public mutating func heard(from identity: [UInt8], now: Double) -> Bool {
        guard let index = members[identity]?.signs else { return false }
        signs[index].lastHeard = now
        return true
    }

    /// Notes that something was sent to a worker (so no heartbeat is due yet).
    public mutating func sent(to identity: [UInt8], now: Double) {
        guard let index = members[identity]?.signs else { return }
        signs[index].lastSent = now
    }

    public mutating func setDraining(_ identity: [UInt8], _ draining: Bool) {
        update(identity) { $0.draining = draining }
    }

    /// The timers due at `now`, at most once per `sweepInterval` and only when a deadline may
    /// have passed (nil otherwise): the workers silent for `liveness` intervals, removed, and
    /// those that heard nothing from us for an interval, to be sent a heartbeat. One pass over
    /// the table of signs of life, which holds only times.
    public mutating func sweep(now: Double) -> (lost: [Member], heartbeat: [[UInt8]])? {
        guard now >= nextSweep else { return nil }
        var dead: [[UInt8]] = []
        var heartbeat: [[UInt8]] = []
        var earliest = Double.infinity
        for index in signs.indices where signs[index].identity != nil {
            let lastHeard = signs[index].lastHeard
            var lastSent = signs[index].lastSent
            if now - lastHeard > deadAfter {
                dead.append(signs[index].identity!)
                continue
            }
            if now - lastSent >= heartbeatInterval {
                heartbeat.append(signs[index].identity!)
                lastSent = now   // about to be sent one
            }
            earliest = min(earliest, lastSent + heartbeatInterval, lastHeard + deadAfter)
        }
        let lost = dead.compactMap { remove($0) }.sorted { $0.name < $1.name }
        nextSweep = members.isEmpty ? .infinity : max(earliest, now + sweepInterval)
        return (lost, heartbeat.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @discardableResult
    public mutating func remove(_ identity: [UInt8]) -> Member? {
        guard let member = members.removeValue(forKey: identity) else { return nil }
        signs[member.signs].identity = nil
        freeSigns.append(member.signs)
        slotsVersion &+= 1
        for ref in member.running where holders[ref] == identity { holders[ref] = nil }
        if byName[member.name] == identity { byName[member.name] = nil }
        if byWorkerID[member.workerID] == identity { byWorkerID[member.workerID] = nil }
        totalFreeSlots -= member.freeSlots
        return member
    }

    /// Records that a worker runs an attempt (sent in ASSIGN, or adopted after a restart).
    public mutating func assign(_ ref: AttemptRef, to identity: [UInt8]) {
        guard members[identity] != nil else { return }
        update(identity) { _ = $0.running.insert(ref) }
        holders[ref] = identity
    }

    /// Forgets an attempt (its result is recorded, or it was cancelled); returns who held it.
    @discardableResult
    public mutating func finish(_ ref: AttemptRef) -> [UInt8]? {
        guard let identity = holders.removeValue(forKey: ref) else { return nil }
        update(identity) { _ = $0.running.remove(ref) }
        return identity
    }

    public func holder(of ref: AttemptRef) -> [UInt8]? { holders[ref] }

    public func member(_ identity: [UInt8]) -> Member? { members[identity] }

    public func member(named name: String) -> Member? { byName[name].flatMap { members[$0] } }

    public func member(workerID: Int64) -> Member? { byWorkerID[workerID].flatMap { members[$0] } }

    /// Whether a member was heard from within the liveness window.
    public func isAlive(_ identity: [UInt8], now: Double) -> Bool {
        guard let index = members[identity]?.signs else { return false }
        return now - signs[index].lastHeard <= deadAfter
    }

    /// A worker with free slots, as a claim needs it.
    public struct FreeSlots: Sendable, Equatable {
        public var workerID: Int64
        public var running: Int
        public var free: Int
    }

    /// The workers with free slots, grouped by what they offer (engine names, sorted) in order
    /// of those names, each group fewest running first (so that work spreads across the farm),
    /// then by worker id. Sorts plain numbers, so thousands of workers cost about a millisecond.
    public var freeSlotsByCapabilities: [(engines: [String], workers: [FreeSlots])] {
        var groups: [[String]: [FreeSlots]] = [:]
        for member in members.values where member.freeSlots > 0 {
            groups[member.engines, default: []].append(FreeSlots(workerID: member.workerID, running: member.running.count,
                                                                 free: member.freeSlots))
        }
        return groups.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { engines, workers in
            (engines, workers.sorted { ($0.running, $0.workerID) < ($1.running, $1.workerID) })
        }
    }

    /// When `sweep` is next due, for the reactor's poll timeout; nil without members.
    public func nextDeadline(after now: Double) -> Double? {
        members.isEmpty ? nil : nextSweep
    }
}
