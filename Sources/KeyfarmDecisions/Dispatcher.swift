import KeyfarmCore
import KeyfarmProtocol
import Logging

/// A worker connection as the coordinator's ROUTER names it: its routing id.
public typealias Identity = [UInt8]

/// The coordinator's decisions as a state machine without I/O: events in (decoded messages,
/// the database's answers, notifications, timer ticks), actions out (sends, store commands
/// with every retry decision already made, queries whose answers come back as events, log
/// lines). It owns the roster, the attempt clocks and limits, the leases waiting for their
/// workers after a restart, overdue stops, unconfirmed ASSIGNs, the key gate and the claim
/// timing. Time (seconds on a monotonic clock) and randomness (a seeded generator) are inputs,
/// so every rule is tested in milliseconds.
///
/// The reactor (`Coordinator`) turns ZeroMQ and libpq into events and carries out actions in
/// the order given; a query's answer is handed back at once, before the next action, so a
/// decision that needs the database reads as one sequence.
public struct Dispatcher: Sendable {
    /// The settings decisions depend on.
    public struct Settings: Sendable {
        /// Seconds between heartbeats (sent by both sides; WELCOME tells workers).
        public var heartbeatInterval: Double = 1
        /// Missed heartbeat intervals after which a worker is lost.
        public var liveness = 3
        /// How long a lease lasts in the database without renewal, in seconds.
        public var leaseSeconds: Double = 60
        /// How often to look for ready work without a NOTIFY, in seconds.
        public var claimPollInterval: Double = 0.5
        /// The most free slots one claim fills (across all capability groups).
        public var claimBatch = 1_024
        /// The most HELLOs one turn registers; the rest wait for the next turn.
        public var registrationBatch = 500
        public var retryPolicy = RetryPolicy()
        public var timeouts = AttemptTimeouts()
        /// How long a worker has to answer the CANCEL of an overdue attempt, in seconds.
        public var cancelGrace: Double = 90
        /// Whether CURVE is on: HELLOs must come under an allowed key.
        public var curve = false
        /// How long attempt log tails are kept, in seconds (nil: for ever).
        public var logRetention: Double? = 30 * 86_400
        /// Log tails emptied per statement while pruning.
        public var logPruneBatch = 2_000
        /// Seconds beyond one liveness window that leases wait for their workers at start-up.
        /// After a takeover workers must first notice their leader is gone (a liveness window of
        /// their own) and find this one, so a coordinator that took the lease over waits longer.
        public var adoptionGrace: Double = 1

        public init() {}
    }

    /// What happened, as the reactor saw it.
    public enum Event: Sendable {
        /// The reactor is serving (at start, and after the database came back): the leases the
        /// database holds wait one liveness window for their workers' HELLOs.
        case started(leases: [Lease])
        /// A decoded message from a worker connection, with the CURVE key it came under.
        case received(WireMessage, from: Identity, key: String?)
        /// The answer to `Query.register`: the worker's row, and the attempts leased to it.
        case registered(Identity, HelloBody, workerID: Int64, drainedByOperator: Bool, leases: [Lease])
        /// The database refused a worker's registration (data it rejects, a missing privilege).
        case registrationFailed(Identity, HelloBody, error: String)
        /// The answer to `Query.leasesToLose`.
        case leasesToLose([Lease], workerID: Int64, reason: String, finalState: String)
        /// The answer to `Query.drainStates`: whether an operator drains each worker named.
        case drainStates([String: Bool])
        /// The answer to `Query.cancelledJobs`.
        case cancelledJobs(Set<Int64>)
        /// The answer to `Query.workerKeys`: the allow-list.
        case keysLoaded([(name: String, publicKey: String)])
        /// The answer to `Query.claim`, one entry per group in the order asked.
        case claimed([ClaimAnswer])
        /// The answer to `Query.recordResults`: the records that were committed.
        case resultsRecorded([ResultRecord])
        /// The answer to `Query.pruneLogs`: how many were emptied; nil when the database refused.
        case logsPruned(Int?, refusal: String?)
        /// An ASSIGN could not be handed to the worker's connection (it is gone).
        case unreachable(Identity, AttemptRef)
        /// NOTIFY on the jobs channel (new work, a retry due, `cancelled:<list id>`).
        case jobsChanged(payload: String)
        /// NOTIFY on the workers channel: an operator drained or undrained this worker.
        case workerChanged(name: String)
        /// NOTIFY on the keys channel: the allow-list changed.
        case keysChanged
        /// A ZAP request: a CURVE client presents its public key (Z85).
        case authenticate(publicKey: String, address: String)
        /// A CURVE handshake failed before ZAP was asked; `reason` nil when it carries no
        /// protocol error (a connection cut mid-handshake).
        case handshakeFailed(code: UInt32, reason: String?, endpoint: String)
        /// The database connection is gone: forget everything, as a restart would.
        case databaseLost
        /// The turn begins: apply operator drains before anything is claimed.
        case beginTurn
        /// First inside the turn's transaction: register the workers that said HELLO this turn,
        /// so that a burst of HELLOs (a coordinator with thousands of workers restarting) costs
        /// one commit, not one each.
        case registerWorkers
        /// Inside the turn's transaction: write the turn's batches and claim for free slots.
        case writeTurn
        /// Last inside the turn's transaction: announce the changed jobs.
        case endTurn
        /// After the turn committed: timers (liveness, overdue attempts, heartbeats, leases).
        case tick
    }

    /// What the reactor must do, in order.
    public enum Action: Sendable, Equatable {
        /// Send to a worker. Inside the turn's transaction the reactor holds it until the commit.
        case send(WireMessage, to: Identity)
        /// Send an ASSIGN; when it cannot reach the worker, answer `.unreachable`.
        case assign(AssignBody, to: Identity)
        /// Send at once, never held and never waiting: a refusal to a connection never registered.
        case refuse(reason: String, to: Identity)
        /// A write whose answer changes no decision.
        case store(StoreCommand)
        /// A read or a write whose answer comes back as an event before the next action.
        case query(Query)
        case log(Logger.Level, Logger.Message, Logger.Metadata)
        /// Answer the ZAP request being handled: admit under this User-Id, or refuse with text.
        case admit(userID: String)
        case deny(String)
    }

    public let settings: Settings
    public internal(set) var roster: WorkerRoster
    /// Attempt limits of the attempts workers hold, for the retry policy.
    var limits: [AttemptRef: AttemptLimit] = [:]
    /// Leases found in the database at start-up, by worker name, until their workers say HELLO.
    public internal(set) var unclaimedLeases: [String: [Lease]] = [:]
    var adoptionDeadline: Double = 0
    /// When each attempt on a worker started and was last heard of, for its timeouts.
    var clocks: AttemptClocks
    /// Overdue attempts told to stop, until the worker's RESULT (or `cancelGrace`) closes them.
    var stopping: [AttemptRef: Stopping] = [:]
    /// ASSIGNs the worker has not answered yet (no ACCEPTED, no RESULT), with the process they
    /// went to: a HELLO from that process that crosses them does not lose them.
    var unconfirmedAssigns: [AttemptRef: (body: AssignBody, instance: String)] = [:]
    var wantClaim = true
    /// The last claim's slot groups and the roster's `slotsVersion` they were made from.
    var cachedClaimGroups: (version: Int, groups: [ClaimGroup])?
    var nextClaim: Double = 0
    var nextLeaseRenewal: Double = 0
    var nextOverdueCheck: Double = 0
    var nextLogPrune: Double = 0
    var cancelledLists: [Int64] = []
    /// Connections whose worker drains itself (its DRAIN, or its HELLO, said so) and those an
    /// operator drained (the database said so): a worker is draining while either holds.
    var drainingItself: Set<Identity> = []
    var drainedByOperator: Set<Identity> = []
    var drainChanges: Set<String> = []
    var gate = WorkerKeyGate()
    /// With CURVE on: the public key each connection was admitted under.
    var workerKeys: [Identity: String] = [:]
    /// Each connection's storage root, from its HELLO: recorded with the artifacts it reports.
    var storageRoots: [Identity: String] = [:]
    // Batched per turn.
    /// HELLOs accepted for registration, registered by the turn's transaction.
    var pendingHellos: [(identity: Identity, hello: HelloBody)] = []
    /// The instance of each name waiting in `pendingHellos`: another instance of that name is
    /// refused, as one already registered and alive would be.
    var pendingInstances: [String: String] = [:]
    var accepted: [AcceptedAttempt] = []
    var progress: [AttemptRef: Double] = [:]
    var results: [(identity: Identity, body: ResultBody)] = []
    /// Jobs whose state or progress changed since the last announcement.
    var changedJobs: Set<Int64> = []
    var random: SeededGenerator

    public init(settings: Settings, seed: UInt64 = UInt64.random(in: 0...UInt64.max)) {
        self.settings = settings
        roster = WorkerRoster(heartbeatInterval: settings.heartbeatInterval, liveness: settings.liveness)
        clocks = AttemptClocks(stallAfter: settings.timeouts.stallAfter)
        random = SeededGenerator(seed: seed)
    }

    /// Takes one event at `now` and returns what to do about it.
    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .started(let leases):
            start(leases: leases, now: now, into: &actions)
        case .received(let message, let identity, let key):
            receive(message, from: identity, key: key, now: now, into: &actions)
        case .registered(let identity, let hello, let workerID, let drained, let leases):
            welcome(identity, hello, workerID: workerID, drainedByOperator: drained, leases: leases, now: now,
                    into: &actions)
        case .registrationFailed(let identity, let hello, let error):
            refuseRegistration(identity, hello, error: error, into: &actions)
        case .leasesToLose(let leases, let workerID, let reason, let finalState):
            for lease in leases { recordLoss(lease.ref, limit: lease.limit, reason: reason, into: &actions) }
            actions.append(.store(.setWorkerStates([WorkerState(workerID: workerID, state: finalState)])))
        case .drainStates(let states):
            applyDrains(states, now: now, into: &actions)
        case .cancelledJobs(let jobs):
            stopCancelled(jobs, now: now, into: &actions)
        case .keysLoaded(let keys):
            replaceKeys(keys, now: now, into: &actions)
        case .claimed(let answers):
            assign(answers, now: now, into: &actions)
        case .resultsRecorded(let records):
            acknowledge(records, into: &actions)
        case .logsPruned(let count, let refusal):
            logsPruned(count, refusal: refusal, now: now, into: &actions)
        case .unreachable(let identity, let ref):
            unreachable(identity, ref, into: &actions)
        case .jobsChanged(let payload):
            wantClaim = true
            if payload.hasPrefix("cancelled:"), let id = Int64(payload.dropFirst(10)) { cancelledLists.append(id) }
        case .workerChanged(let name):
            drainChanges.insert(name)
        case .keysChanged:
            actions.append(.query(.workerKeys))
        case .authenticate(let publicKey, let address):
            authenticate(publicKey, address: address, into: &actions)
        case .handshakeFailed(let code, let reason, let endpoint):
            handshakeFailed(code: code, reason: reason, endpoint: endpoint, now: now, into: &actions)
        case .databaseLost:
            self = Dispatcher(settings: settings, gate: gate, random: random)
        case .beginTurn:
            if !drainChanges.isEmpty {
                actions.append(.query(.drainStates(drainChanges.sorted())))
                drainChanges.removeAll()
            }
        case .registerWorkers:
            // A bounded batch, so that one turn does not keep heartbeats waiting for seconds.
            let batch = pendingHellos.prefix(settings.registrationBatch)
            pendingHellos.removeFirst(batch.count)
            for (_, hello) in batch where pendingInstances[hello.name] == hello.instance { pendingInstances[hello.name] = nil }
            for (identity, hello) in batch { actions.append(.query(.register(identity, hello))) }
        case .writeTurn:
            flush(into: &actions)
            claim(now: now, into: &actions)
        case .endTurn:
            if !changedJobs.isEmpty {
                actions.append(.store(.announce(jobIDs: changedJobs.sorted())))
                changedJobs.removeAll(keepingCapacity: true)
            }
        case .tick:
            tick(now: now, into: &actions)
        }
        return actions
    }

    /// A fresh dispatcher that keeps what survives a lost database: the key gate (its refusals
    /// already logged) and the random stream.
    private init(settings: Settings, gate: WorkerKeyGate, random: SeededGenerator) {
        self.init(settings: settings)
        self.gate = gate
        self.random = random
    }

    /// When the reactor must wake up at the latest to act on time, if nothing else happens.
    public func nextWakeUp(after now: Double) -> Double {
        if !pendingHellos.isEmpty { return now }
        var deadline = now + 1
        if let next = roster.nextDeadline(after: now) { deadline = min(deadline, next) }
        if !unclaimedLeases.isEmpty { deadline = min(deadline, adoptionDeadline) }
        if roster.totalFreeSlots > 0 { deadline = min(deadline, wantClaim ? now : nextClaim) }
        return deadline
    }

    /// The attempts a worker connection holds as this dispatcher sees them.
    public func running(on identity: Identity) -> Set<AttemptRef> { roster.member(identity)?.running ?? [] }

    /// Whether an attempt was told to stop and its outcome waits for the worker's RESULT.
    public func isStopping(_ ref: AttemptRef) -> Bool { stopping[ref] != nil }
}

/// Attempts allowed in this round, and this attempt's number within it.
public struct AttemptLimit: Sendable, Equatable {
    public var inRound: Int
    public var max: Int

    public init(inRound: Int, max: Int) {
        self.inRound = inRound
        self.max = max
    }
}

extension Lease {
    var limit: AttemptLimit { AttemptLimit(inRound: attemptInRound, max: maxAttempts) }
}

/// An overdue attempt the coordinator told its worker to stop.
struct Stopping: Sendable {
    var errorClass: ErrorClass
    var reason: String
    /// When to record the attempt even if the worker has not answered the CANCEL.
    var giveUpAt: Double
}
