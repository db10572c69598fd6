import Foundation
import KeyfarmCore
import KeyfarmDecisions
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmWire
import Logging

/// The farm's coordinator: a single-threaded reactor that polls its ROUTER socket, the libpq
/// socket (LISTEN/NOTIFY) and a stop signal, turns what it reads into events for the
/// `Dispatcher`, and carries out the dispatcher's actions: sends, writes and queries. Every
/// decision (who runs what, retries, losses, adoption, timeouts, key gating) is the
/// dispatcher's; all state that matters lives in the database.
public final class Coordinator {
    let configuration: CoordinatorConfiguration
    let store: FarmStore
    var logger: Logger
    let socket: ZMQSocket
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant
    var dispatcher: Dispatcher
    /// Messages held back until the turn's transaction commits (ACKs, ASSIGNs), with the
    /// attempt an ASSIGN carries.
    var outbox: [(identity: Identity, message: WireMessage, assigned: AttemptRef?)] = []
    var holdingSends = false
    /// With CURVE on: the ZAP handler (a REP socket at `inproc://zeromq.zap.01`) and the ROUTER's monitor.
    let security: (zap: ZMQSocket, monitor: ZMQSocket)?

    /// The endpoint actually bound (useful with `tcp://127.0.0.1:*`).
    public private(set) var endpoint: String
    /// This process as the lease table knows it, with the endpoint workers are told to use.
    public private(set) var identity: CoordinatorIdentity
    var leadership: Leadership
    var roleChanged: (String) -> Void = { _ in }

    public init(configuration: CoordinatorConfiguration, store: FarmStore, logger: Logger,
                context: ZMQContext = .shared) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.logger[metadataKey: "component"] = "coordinator"
        dispatcher = Dispatcher(settings: configuration.dispatcherSettings)
        started = clock.now
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
        identity = CoordinatorIdentity(instance: String(UInt64.random(in: 0...UInt64.max), radix: 36),
                                       host: ProcessInfo.processInfo.hostName, pid: Int(ProcessInfo.processInfo.processIdentifier),
                                       endpoint: configuration.advertise ?? endpoint, version: KeyfarmVersion.current)
        leadership = Leadership(settings: configuration.leadershipSettings)
    }

    /// Seconds since this coordinator started, on a monotonic clock.
    var now: Double {
        (clock.now - started).inSeconds
    }

    /// Runs until `stop` is triggered: stands by until it holds the lease, then leads until it
    /// stops, loses the lease (steps down and stands by again), or loses the database (forgets
    /// its workers, as a restart would, reconnects, and stands by again: see
    /// `rideOutDatabaseLoss`). Throws only when the socket fails, or the database refuses a
    /// statement. `onReady` runs once, when it leads or knows it stands by; `onRoleChange` with
    /// a line for systemd's status whenever it starts to lead or stand by; `onTurn` after every
    /// reactor turn (at least once a second): a place for watchdog pings.
    public func run(until stop: StopSignal, onReady: () -> Void = {}, onRoleChange: @escaping (String) -> Void = { _ in },
                    onTurn: () -> Void = {}) throws {
        roleChanged = onRoleChange
        try store.migrator.requireCurrent()
        defer {
            socket.stopMonitoring()
            security?.monitor.close()
            security?.zap.close()
            socket.close()
        }
        do {
            try store.forgetCoordinators(olderThan: 7 * 86_400)
        } catch let error as PostgresError where error.isStatementError {
            logger.warning("cannot forget old coordinators", metadata: ["error": "\(error)"])
        }
        var ready = false
        let readyOnce = { if !ready { ready = true; onReady() } }
        while true {
            do {
                guard let epoch = try standBy(until: stop, onReady: readyOnce, onTurn: onTurn) else { break }
                try lead(epoch: epoch, until: stop, onReady: readyOnce, onTurn: onTurn)
                break
            } catch let stepping as SteppingDown {
                stepDown(stepping.reason)
            } catch let lost as LeadershipLost {
                _ = leadership.handle(.fenced, now: now)
                stepDown("\(lost)")
            } catch let error as PostgresError where store.connection.isLost(after: error) {
                // Whatever it led is forgotten there (and said how much); the lease lapses by
                // itself, and it stands by again once it is back.
                store.connection.commitGuard = nil
                leadership.reset()
                guard try rideOutDatabaseLoss(error, until: stop, onTurn: onTurn) else { break }
                dispatcher = Dispatcher(settings: configuration.dispatcherSettings)
            }
        }
        resign()
        logger.info("coordinator stopping")
    }

    /// Leads at `epoch`: listens, hands the dispatcher the leases waiting for their workers, and
    /// runs the reactor until `stop` is triggered. Throws `SteppingDown` when the lease could not
    /// be renewed in time or was taken, and `LeadershipLost` when a commit was fenced.
    private func lead(epoch: Int64, until stop: StopSignal, onReady: () -> Void, onTurn: () -> Void) throws {
        let instance = identity.instance
        store.connection.commitGuard = { connection in
            try FarmStore.fence(connection, instance: instance, epoch: epoch)
        }
        // A leader paused inside a transaction (SIGSTOP, a frozen VM) would hold its row locks
        // and stall the coordinator that took over: the server ends such a session after 3 s.
        // No turn sits idle inside a transaction for anything like that long.
        try store.connection.execute("SET idle_in_transaction_session_timeout = '3s'")
        // Every statement here is short; JIT compiling one whose estimated cost is inflated (the
        // statistics lag behind a large submit) took 10 to 170 ms per claim in `make bench`.
        try store.connection.execute("SET jit = off")
        // The hot statements are prepared, and their generic plans run as fast as plans made for
        // each call's values (the claim: 11.1 against 11.3 ms for 256 slots, 0.6 against 0.5 ms
        // for one), but PostgreSQL kept planning the claim afresh, 1.2 to 2.2 ms a time: most of
        // a lone job's dispatch latency. One-off statements are planned for their values anyway.
        try store.connection.execute("SET plan_cache_mode = force_generic_plan")
        try store.connection.listen(FarmStore.jobsChannel)
        try store.connection.listen(FarmStore.workersChannel)
        if security != nil { try store.connection.listen(FarmStore.keysChannel) }
        let leases: [Lease]
        do {
            leases = try store.leases()
        } catch let error as PostgresError where error.isStatementError {
            logger.error("cannot read leases", metadata: ["error": "\(error)"])
            leases = []
        }
        try handle(.started(leases: leases))
        let poller = ZMQPoller()
        let socketItem = poller.add(.socket(socket))
        let databaseItem = poller.add(.descriptor(store.connection.socket))
        let stopItem = poller.add(.descriptor(stop.descriptor))
        let zapItem = security.map { poller.add(.socket($0.zap)) }
        let monitorItem = security.map { poller.add(.socket($0.monitor)) }
        logger.info("coordinator leading", metadata: ["endpoint": "\(endpoint)", "advertised": "\(identity.endpoint)",
                                                      "epoch": "\(epoch)",
                                                      "curve": "\(security == nil ? "off" : "on")",
                                                      "timeouts": "\(configuration.timeouts.summary)",
                                                      "log_retention": "\(configuration.logRetention.map(DurationText.format) ?? "for ever")"])
        onReady()
        roleChanged("leading at epoch \(epoch) on \(identity.endpoint)")
        while true {
            let wakeUp = min(dispatcher.nextWakeUp(after: now), leadership.nextWakeUp(after: now))
            let ready = try poller.poll(timeout: .milliseconds(Int64((max(0, wakeUp - now) * 1000).rounded(.up))))
            if ready.contains(stopItem) { break }
            // First of all: still the leader? A leader that was paused finds out here, before it
            // acts on anything it heard (and the fence refuses its commits anyway).
            try keepLease()
            // Handshakes wait on these answers: give them first, before any database work.
            if let zapItem, ready.contains(zapItem) { try answerAuthenticationRequests() }
            if let monitorItem, ready.contains(monitorItem) { try readHandshakeFailures() }
            if ready.contains(socketItem) { try receiveMessages() }
            if ready.contains(databaseItem) { try readNotifications() }
            // Drains apply before this turn's claims, so a drained worker gets nothing new.
            try handle(.beginTurn)
            // One transaction, so one WAL flush, for the turn's results and claims; nothing they
            // cause is sent before it commits. A turn with nothing to write or claim (heartbeats
            // only) does not touch the database.
            holdingSends = true
            do {
                try store.connection.transaction(deferringBegin: true) { _ in
                    try handle(.registerWorkers)
                    try handle(.writeTurn)
                    try handle(.endTurn)
                }
            } catch {
                holdingSends = false
                outbox.removeAll()
                throw error
            }
            holdingSends = false
            try flushOutbox()
            try handle(.tick)
            // Queries this turn may have read notifications into libpq's queue, where the
            // socket no longer shows them: collect them now, or a submit could wait a poll interval.
            try readNotifications()
            onTurn()
        }
    }

    /// Reads every waiting message (up to a batch) and hands each to the dispatcher.
    private func receiveMessages() throws {
        for _ in 0..<configuration.receiveBatch {
            let received = security == nil ? try socket.receive(dontWait: true).map { (frames: $0, userID: String?.none) }
                                           : try socket.receiveWithUserID(dontWait: true)
            guard let (frames, key) = received else { break }
            guard let identity = frames.first else { continue }
            let message: WireMessage
            do {
                message = try WireMessage.decode(frames.dropFirst())
            } catch {
                logger.warning("dropped a malformed message", metadata: [
                    "worker.identity": "\(WireMessage.describe(identity: identity))", "error": "\(error)"])
                continue
            }
            try handle(.received(message, from: identity, key: key))
        }
    }

    private func readNotifications() throws {
        var keysChanged = false
        for notification in try store.connection.pollNotifications() {
            switch notification.channel {
            case FarmStore.keysChannel: keysChanged = true
            case FarmStore.jobsChannel: try handle(.jobsChanged(payload: notification.payload))
            case FarmStore.workersChannel: try handle(.workerChanged(name: notification.payload))
            default: break
            }
        }
        // One reload for any number of changes.
        if keysChanged { try handle(.keysChanged) }
    }

    /// Hands an event to the dispatcher and carries out what it decides.
    func handle(_ event: Dispatcher.Event) throws {
        try perform(dispatcher.handle(event, now: now))
    }

    /// Carries out actions in order; a query's answer goes back to the dispatcher at once, and
    /// what that decides is carried out before the next action.
    func perform(_ actions: [Dispatcher.Action]) throws {
        for action in actions {
            switch action {
            case .send(let message, let identity):
                send(message, to: identity, assigned: nil)
            case .assign(let body, let identity):
                if !send(.assign(body), to: identity, assigned: AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))) {
                    try handle(.unreachable(identity, AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))))
                }
            case .refuse(let reason, let identity):
                sendDisconnect(reason: reason, to: identity)
            case .store(let command):
                // Every write commits through a transaction, so the leader's fence checks it.
                if store.connection.isInTransaction {
                    try execute(command)
                } else {
                    try store.connection.transaction { _ in try execute(command) }
                }
            case .query(let query):
                try handle(answer(query))
            case .log(let level, let message, let metadata):
                logger.log(level: level, message, metadata: metadata)
            case .admit, .deny:
                // Only `answerAuthenticationRequests` asks for these, and answers them itself.
                break
            }
        }
    }

    /// Sends one message to a worker; false when it is gone, or its queue is full (100,000
    /// messages it has not read: it is as good as gone, and the single-threaded reactor must not
    /// wait for it). While a turn's transaction is open the message waits in the outbox.
    @discardableResult
    private func send(_ message: WireMessage, to identity: Identity, assigned: AttemptRef?) -> Bool {
        if holdingSends {
            outbox.append((identity, message, assigned))
            return true
        }
        do {
            return try socket.send([identity] + message.frames(), dontWait: true)
        } catch {
            logger.debug("cannot send to worker", metadata: ["worker.identity": "\(WireMessage.describe(identity: identity))",
                                                              "error": "\(error)"])
            return false
        }
    }

    /// Sends DISCONNECT at once (never held for a turn's commit), naming the leader when given:
    /// a refused HELLO, or "standby".
    func sendDisconnect(reason: String, leader: String = "", to identity: Identity) {
        var body = DisconnectBody()
        body.reason = reason
        body.leader = leader
        _ = try? socket.send([identity] + WireMessage.disconnect(body).frames(), dontWait: true)
    }

    /// Sends what the committed turn produced; an ASSIGN that cannot reach its worker goes
    /// back to the dispatcher.
    private func flushOutbox() throws {
        let messages = outbox
        outbox.removeAll(keepingCapacity: true)
        for (identity, message, assigned) in messages where !send(message, to: identity, assigned: assigned) {
            if let assigned { try handle(.unreachable(identity, assigned)) }
        }
    }
}

extension CoordinatorConfiguration {
    /// The settings the election decides with.
    var leadershipSettings: Leadership.Settings {
        var settings = Leadership.Settings()
        settings.lease = leaderLease
        settings.renewEvery = leaderLease / 4
        settings.margin = leaderLease / 4
        return settings
    }

    /// The settings the dispatcher decides with.
    var dispatcherSettings: Dispatcher.Settings {
        var settings = Dispatcher.Settings()
        settings.heartbeatInterval = heartbeatInterval
        settings.liveness = liveness
        settings.leaseSeconds = leaseSeconds
        settings.claimPollInterval = claimPollInterval
        settings.retryPolicy = retryPolicy
        settings.timeouts = timeouts
        settings.cancelGrace = cancelGrace
        settings.curve = curveSecretKey != nil
        settings.logRetention = logRetention
        settings.logPruneBatch = logPruneBatch
        return settings
    }
}
