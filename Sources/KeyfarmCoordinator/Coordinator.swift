import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmWire
import Logging

/// The farm's dispatcher: a single-threaded reactor that polls its ROUTER socket, the libpq
/// socket (LISTEN/NOTIFY) and a stop signal, hands ready jobs to workers with free slots, and
/// records every outcome in PostgreSQL. All state that matters lives in the database; what it
/// keeps in memory (the roster) is rebuilt from HELLOs after a restart.
public final class Coordinator {
    let configuration: CoordinatorConfiguration
    let store: FarmStore
    var logger: Logger
    let socket: ZMQSocket
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant
    var roster: WorkerRoster
    /// Attempt limits of the attempts workers hold, for the retry policy.
    var limits: [AttemptRef: (inRound: Int, max: Int)] = [:]
    /// Leases found in the database at start-up, by worker name, until their workers say HELLO.
    var unclaimedLeases: [String: [Lease]] = [:]
    var adoptionDeadline: Double
    var wantClaim = true
    var nextClaim: Double = 0
    var nextLeaseRenewal: Double = 0
    var cancelledLists: [Int64] = []
    /// When each attempt on a worker started and was last heard of, for its timeouts.
    var clocks: AttemptClocks
    /// Overdue attempts told to stop, until the worker's RESULT (or `cancelGrace`) closes them.
    var stopping: [AttemptRef: Stopping] = [:]
    /// ASSIGNs the worker has not answered yet (no ACCEPTED, no RESULT), with the process they
    /// went to: a HELLO from that process that crosses them does not lose them (see
    /// `HelloReconciliation`); they are sent again.
    var unconfirmedAssigns: [AttemptRef: (body: AssignBody, instance: String)] = [:]
    var nextOverdueCheck: Double = 0
    var nextLogPrune: Double = 0
    var drainChanges: [String] = []
    // Batched per reactor turn.
    var accepted: [(ref: AttemptRef, receivedAtMicroseconds: Int64)] = []
    var progress: [AttemptRef: Double] = [:]
    var results: [(identity: [UInt8], body: ResultBody)] = []
    var pendingAcks: [(identity: [UInt8], message: WireMessage)] = []
    /// Jobs whose state or progress changed since the last announcement on `progressChannel`.
    var changedJobs: Set<Int64> = []
    /// Messages held back until the turn's transaction commits (ACKs, ASSIGNs).
    var outbox: [(identity: [UInt8], message: WireMessage, assigned: (ref: AttemptRef, inRound: Int, max: Int, worker: String)?)] = []
    var holdingSends = false
    /// With CURVE on: the ZAP handler (a REP socket at `inproc://zeromq.zap.01`), the ROUTER's
    /// monitor, and the allow-list they decide with.
    let security: (zap: ZMQSocket, monitor: ZMQSocket)?
    var gate = WorkerKeyGate()
    /// With CURVE on: the public key each worker connection was admitted under, by routing id.
    var workerKeys: [[UInt8]: String] = [:]
    /// Each connection's storage root, from its HELLO: recorded with the artifacts it reports.
    var storageRoots: [[UInt8]: String] = [:]

    /// The endpoint actually bound (useful with `tcp://127.0.0.1:*`).
    public private(set) var endpoint: String

    public init(configuration: CoordinatorConfiguration, store: FarmStore, logger: Logger,
                context: ZMQContext = .shared) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.logger[metadataKey: "component"] = "coordinator"
        roster = WorkerRoster(heartbeatInterval: configuration.heartbeatInterval, liveness: configuration.liveness)
        clocks = AttemptClocks(stallAfter: configuration.timeouts.stallAfter)
        started = clock.now
        adoptionDeadline = 0
        socket = try ZMQSocket(context: context, type: .router)
        try socket.setLinger(milliseconds: 0)
        try socket.setRouterMandatory(true)
        try socket.setMaxMessageSize(4 << 20)
        try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
        if let secretKey = configuration.curveSecretKey {
            security = try Self.secure(socket, secretKey: secretKey, context: context)
        } else {
            security = nil
        }
        try socket.bind(configuration.bind)
        endpoint = socket.lastEndpoint ?? configuration.bind
    }

    /// Seconds since this coordinator started, on a monotonic clock.
    var now: Double {
        let elapsed = clock.now - started
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Sends what the committed turn produced; an ASSIGN that cannot reach its worker is a lost
    /// attempt, and the worker leaves the roster: its connection is gone (killed, or reconnecting
    /// under a new routing id), and until it says HELLO again every job claimed for it would be
    /// lost the same way, turn after turn.
    func flushOutbox() throws {
        let messages = outbox
        outbox.removeAll(keepingCapacity: true)
        for (identity, message, assigned) in messages where !send(message, to: identity) {
            guard let assigned else { continue }
            try recordLoss(assigned.ref, limit: (assigned.inRound, assigned.max),
                           reason: "worker \(assigned.worker) unreachable when assigning")
            if let member = roster.remove(identity) {
                logger.warning("worker unreachable: no more jobs for it until it says HELLO again",
                               metadata: ["worker.name": "\(member.name)"])
                try lose(member, reason: "worker \(member.name) unreachable", finalState: "lost")
            }
        }
    }

    /// Runs until `stop` is triggered. Throws only when the socket fails, or the database
    /// refuses a statement. A lost database connection is not an end: the coordinator forgets
    /// its workers, as a restart would, reconnects, and carries on (see `rideOutDatabaseLoss`).
    /// `onTurn` runs after every reactor turn (at least once a second): a place for watchdog pings.
    public func run(until stop: StopSignal, onReady: () -> Void = {}, onTurn: () -> Void = {}) throws {
        try store.migrator.requireCurrent()
        defer {
            socket.stopMonitoring()
            security?.monitor.close()
            security?.zap.close()
            socket.close()
        }
        var ready = false
        while true {
            do {
                try serve(until: stop, onReady: {
                    if !ready { ready = true; onReady() }
                }, onTurn: onTurn)
                break
            } catch let error as PostgresError where !store.connection.isOpen {
                guard try rideOutDatabaseLoss(error, until: stop, onTurn: onTurn) else { break }
            }
        }
        logger.info("coordinator stopping")
    }

    /// Listens, loads what it needs, and runs the reactor until `stop` is triggered.
    private func serve(until stop: StopSignal, onReady: () -> Void, onTurn: () -> Void) throws {
        try store.connection.listen(FarmStore.jobsChannel)
        try store.connection.listen(FarmStore.workersChannel)
        if security != nil {
            try store.connection.listen(FarmStore.keysChannel)
            try reloadWorkerKeys()
        }
        adoptLeasesFromDatabase()
        let poller = ZMQPoller()
        let socketItem = poller.add(.socket(socket))
        let databaseItem = poller.add(.descriptor(store.connection.socket))
        let stopItem = poller.add(.descriptor(stop.descriptor))
        let zapItem = security.map { poller.add(.socket($0.zap)) }
        let monitorItem = security.map { poller.add(.socket($0.monitor)) }
        logger.info("coordinator listening", metadata: ["endpoint": "\(endpoint)",
                                                        "curve": "\(security == nil ? "off" : "on")",
                                                        "timeouts": "\(configuration.timeouts.summary)",
                                                        "log_retention": "\(configuration.logRetention.map(DurationText.format) ?? "for ever")"])
        onReady()
        while true {
            let ready = try poller.poll(timeout: pollTimeout())
            if ready.contains(stopItem) { break }
            // Handshakes wait on these answers: give them first, before any database work.
            if let zapItem, ready.contains(zapItem) { try answerAuthenticationRequests() }
            if let monitorItem, ready.contains(monitorItem) { try readHandshakeFailures() }
            if ready.contains(socketItem) { try receiveMessages() }
            if ready.contains(databaseItem) { try readNotifications() }
            // Drains apply before this turn's dispatch, so a drained worker gets nothing new.
            try handleDrainChanges()
            // One transaction, so one WAL flush, for the turn's results and claims; nothing they
            // cause is sent before it commits.
            holdingSends = true
            do {
                try store.connection.transaction { _ in
                    try flushBatches()
                    try dispatch()
                    try announceChanges()
                }
            } catch {
                holdingSends = false
                outbox.removeAll()
                throw error
            }
            holdingSends = false
            try flushOutbox()
            try handleCancellations()
            try stopOverdueAttempts()
            try checkLiveness()
            try sendHeartbeats()
            try renewLeases()
            try pruneAttemptLogs()
            // Queries this turn may have read notifications into libpq's queue, where the
            // socket no longer shows them: collect them now, or a submit could wait a poll interval.
            try readNotifications()
            onTurn()
        }
    }

    /// Tells listeners (`keyfarm watch`) which shot lists this turn changed: one notification
    /// per list, sent when the turn's transaction commits. Changes made between turns (lost
    /// workers) go out with the next turn, at most a poll interval later.
    func announceChanges() throws {
        guard !changedJobs.isEmpty else { return }
        try store.announceProgress(jobIDs: Array(changedJobs))
        changedJobs.removeAll(keepingCapacity: true)
    }

    private func pollTimeout() -> Duration {
        let current = now
        var deadline = current + 1
        if let next = roster.nextDeadline(after: current) { deadline = min(deadline, next) }
        if !unclaimedLeases.isEmpty { deadline = min(deadline, adoptionDeadline) }
        if roster.totalFreeSlots > 0 { deadline = min(deadline, wantClaim ? current : nextClaim) }
        let seconds = max(0, deadline - current)
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    private func readNotifications() throws {
        var keysChanged = false
        for notification in try store.connection.pollNotifications() {
            switch notification.channel {
            case FarmStore.keysChannel:
                keysChanged = true
            case FarmStore.jobsChannel:
                wantClaim = true
                if notification.payload.hasPrefix("cancelled:"), let id = Int64(notification.payload.dropFirst(10)) {
                    cancelledLists.append(id)
                }
            case FarmStore.workersChannel:
                drainChanges.append(notification.payload)
            default:
                break
            }
        }
        // One reload for any number of changes: it applies to the next handshake, and cuts off
        // workers connected with a key that was removed.
        if keysChanged { try reloadWorkerKeys() }
    }

    /// Sends one message to a worker; false when it is gone (the caller treats it as lost).
    /// While a turn's transaction is open the message waits in the outbox.
    @discardableResult
    func send(_ message: WireMessage, to identity: [UInt8],
              assigned: (ref: AttemptRef, inRound: Int, max: Int, worker: String)? = nil) -> Bool {
        if holdingSends {
            outbox.append((identity, message, assigned))
            return true
        }
        do {
            try socket.send([identity] + message.frames())
            roster.sent(to: identity, now: now)
            return true
        } catch {
            logger.debug("cannot send to worker", metadata: ["worker.identity": "\(WireMessage.describe(identity: identity))",
                                                              "error": "\(error)"])
            return false
        }
    }
}
