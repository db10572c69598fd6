import Foundation
import KeyfarmCore
import KeyfarmWire
import Logging

/// The worker daemon: a reactor on one thread that owns the DEALER socket to the coordinator
/// and an `inproc://` PULL socket its job threads report through. It heartbeats, reconnects
/// with back-off, keeps every RESULT until the coordinator acknowledges it, and on SIGTERM
/// drains: it takes no new work, lets running jobs finish, says goodbye and exits 0.
public final class Worker {
    let configuration: WorkerConfiguration
    let engines: [String: any JobEngine]
    var logger: Logger
    let notifier: SystemdNotifier
    let context: ZMQContext
    let instance = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant
    let engineEndpoint: String
    let engineSocket: ZMQSocket
    let pool: SlotPool

    struct Running {
        var job: AssignedJob
        var control: JobControl
        var progress: Double = 0
        var providerRequestID = ""
        var abandoned = false
    }

    var dealer: ZMQSocket?
    /// With CURVE: the connection's monitor, which hears the coordinator refuse this worker's
    /// key (ZAP) at once, rather than after a silent wait for WELCOME.
    var handshakeMonitor: ZMQSocket?
    var refusalLogged = false
    var connections = 0
    var welcomed = false
    var everWelcomed = false
    var lastHeard: Double = 0
    var lastSent: Double = 0
    var nextConnect: Double = 0
    var reconnectDelay: Double
    var heartbeatInterval: Double
    var liveness: Int
    var running: [AttemptRef: Running] = [:]
    var unacknowledged: [AttemptRef: ResultBody] = [:]
    var drainedByOperator = false
    var stopping = false
    var stopDeadline: Double = .infinity
    var nextWatchdog: Double = 0
    var nextResend: Double = .infinity

    public init(configuration: WorkerConfiguration, engines: [String: any JobEngine], logger: Logger,
                notifier: SystemdNotifier, context: ZMQContext = .shared) throws {
        self.configuration = configuration
        self.engines = engines
        self.logger = logger
        self.logger[metadataKey: "worker.name"] = "\(configuration.name)"
        self.notifier = notifier
        self.context = context
        started = clock.now
        reconnectDelay = configuration.reconnectMinimum
        heartbeatInterval = configuration.heartbeatInterval
        liveness = configuration.liveness
        engineEndpoint = "inproc://keyfarm-worker-engines-\(instance)"
        engineSocket = try ZMQSocket(context: context, type: .pull)
        try engineSocket.setLinger(milliseconds: 0)
        try engineSocket.bind(engineEndpoint)
        pool = SlotPool(slots: configuration.slots, endpoint: engineEndpoint, context: context)
    }

    var now: Double {
        let elapsed = clock.now - started
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    var draining: Bool { drainedByOperator || stopping }
    var freeSlots: Int { draining ? 0 : max(configuration.slots - running.count, 0) }

    /// Runs until stopped and drained; returns the process's exit status (0 after a clean drain).
    public func run(until stop: StopSignal) throws -> Int32 {
        try FileManager.default.createDirectory(atPath: configuration.storage, withIntermediateDirectories: true)
        notifier.status("connecting to \(configuration.connect)")
        while true {
            if dealer == nil && now >= nextConnect { try openConnection() }
            let poller = ZMQPoller()
            let engineItem = poller.add(.socket(engineSocket))
            let stopItem = poller.add(.descriptor(stop.descriptor))
            let dealerItem = dealer.map { poller.add(.socket($0)) }
            let monitorItem = handshakeMonitor.map { poller.add(.socket($0)) }
            let ready = try poller.poll(timeout: pollTimeout())
            if ready.contains(stopItem) && !stopping { beginStopping() }
            if ready.contains(engineItem) { try receiveFromEngines() }
            if let dealerItem, ready.contains(dealerItem) { try receiveFromCoordinator() }
            if let monitorItem, ready.contains(monitorItem) { try readHandshakeEvents() }
            checkCoordinatorLiveness()
            if welcomed && now - lastSent >= heartbeatInterval { sendHeartbeat() }
            if welcomed && now >= nextResend { resendUnacknowledged() }
            if let interval = notifier.watchdogInterval, now >= nextWatchdog {
                notifier.watchdog()
                nextWatchdog = now + Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
            }
            if stopping && running.isEmpty && (unacknowledged.isEmpty || dealer == nil && !everWelcomed) {
                return finish(status: 0)
            }
            if stopping && now >= stopDeadline {
                logger.error("drain timed out; exiting with jobs unreported", metadata: [
                    "running": "\(running.count)", "unacknowledged": "\(unacknowledged.count)"])
                return finish(status: 1)
            }
        }
    }

    private func pollTimeout() -> Duration {
        var deadline = now + 1
        if dealer == nil { deadline = min(deadline, nextConnect) }
        if welcomed { deadline = min(deadline, lastSent + heartbeatInterval, nextResend) }
        if dealer != nil { deadline = min(deadline, lastHeard + silenceLimit + 0.001) }
        if notifier.watchdogInterval != nil { deadline = min(deadline, nextWatchdog) }
        if stopping { deadline = min(deadline, stopDeadline) }
        return .milliseconds(Int64((max(0, deadline - now) * 1000).rounded(.up)))
    }

    private func beginStopping() {
        stopping = true
        stopDeadline = now + configuration.drainTimeout
        logger.info("stopping: finishing running jobs", metadata: ["running": "\(running.count)"])
        notifier.status("draining: \(running.count) job(s) running")
        for entry in running.values { entry.control.requestHandBack() }
        if welcomed {
            var body = DrainBody()
            body.draining = true
            body.reason = "shutdown"
            send(.drain(body))
        }
    }

    private func finish(status: Int32) -> Int32 {
        if welcomed {
            var body = DisconnectBody()
            body.reason = "shutdown"
            send(.disconnect(body))
        }
        notifier.stopping(status: "stopped")
        // Give the goodbye a moment to leave: with linger 0, close would discard it.
        try? dealer?.setLinger(milliseconds: 1000)
        closeConnection()
        pool.shutdown()
        engineSocket.close()
        logger.info("worker stopped")
        return status
    }

    // MARK: - The connection

    func openConnection() throws {
        connections += 1
        let socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.setIdentity(Array("\(configuration.name)/\(instance)/\(connections)".utf8))
        try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
        try socket.setTCPKeepalive(true)
        if let curve = configuration.curve {
            try socket.setCurveClient(serverKey: curve.coordinatorKey, secretKey: curve.secretKey)
            let endpoint = "inproc://keyfarm-worker-monitor-\(instance)-\(connections)"
            try socket.monitor(endpoint, events: ZMQMonitorEvent.handshakeFailedAuth)
            let monitor = try ZMQSocket(context: context, type: .pair)
            try monitor.setLinger(milliseconds: 0)
            try monitor.connect(endpoint)
            handshakeMonitor = monitor
        }
        try socket.connect(configuration.connect)
        dealer = socket
        welcomed = false
        lastHeard = now
        var hello = HelloBody()
        hello.name = configuration.name
        hello.version = configuration.version
        hello.host = configuration.host
        hello.engines = configuration.engines
        hello.slots = UInt32(configuration.slots)
        hello.instance = instance
        hello.draining = draining
        hello.storageRoot = URL(fileURLWithPath: configuration.storage).standardizedFileURL.path
        // Every attempt it still holds: running ones, and finished ones whose RESULT is unacknowledged.
        let runningJobs = running.filter { !$0.value.abandoned }.map { ref, entry in
            var job = RunningJobBody()
            job.jobID = ref.jobID
            job.attempt = UInt32(ref.attempt)
            job.providerRequestID = entry.providerRequestID
            job.progress = Float(entry.progress)
            return job
        }
        let finishedJobs = unacknowledged.map { ref, result in
            var job = RunningJobBody()
            job.jobID = ref.jobID
            job.attempt = UInt32(ref.attempt)
            job.providerRequestID = result.providerRequestID
            job.progress = 1
            return job
        }
        hello.running = (runningJobs + finishedJobs).sorted { ($0.jobID, $0.attempt) < ($1.jobID, $1.attempt) }
        send(.hello(hello))
        logger.debug("connecting", metadata: ["endpoint": "\(configuration.connect)", "connection": "\(connections)"])
    }

    /// Closes the connection and schedules the next attempt after the back-off delay.
    func dropConnection(reason: String, immediately: Bool = false) {
        logger.warning("connection to the coordinator lost", metadata: ["reason": "\(reason)",
                                                                        "retry.seconds": "\(immediately ? 0 : reconnectDelay)"])
        closeConnection()
        welcomed = false
        nextConnect = immediately ? now : now + reconnectDelay
        if !immediately { reconnectDelay = min(reconnectDelay * 2, configuration.reconnectMaximum) }
        notifier.status("reconnecting to \(configuration.connect)")
    }

    /// Closes the DEALER socket and its monitor.
    private func closeConnection() {
        dealer?.stopMonitoring()
        dealer?.close()
        dealer = nil
        handshakeMonitor?.close()
        handshakeMonitor = nil
    }

    /// Logs the coordinator refusing this worker's key (a ZAP status in the CURVE handshake)
    /// once until a WELCOME: libzmq retries the handshake by itself, and each retry is refused.
    private func readHandshakeEvents() throws {
        guard let monitor = handshakeMonitor else { return }
        while let frames = try monitor.receive(dontWait: true) {
            guard let event = ZMQMonitorEvent(frames: frames), event.event == ZMQMonitorEvent.handshakeFailedAuth,
                  !refusalLogged, let curve = configuration.curve else { continue }
            refusalLogged = true
            logger.error("""
                the coordinator refused this worker's key \(curve.secretKey.publicKey) (ZAP status \(event.value)): \
                it gets no job until the key is allowed (`keyfarm keys add` its .pub on a host with the database); \
                still trying
                """)
            notifier.status("refused by the coordinator: key \(curve.secretKey.publicKey) is not allowed")
        }
    }

    /// How long the coordinator may be silent before this connection is given up: `liveness`
    /// intervals once welcomed; before that, at least `welcomeTimeout`.
    private var silenceLimit: Double {
        let intervals = heartbeatInterval * Double(liveness)
        return welcomed ? intervals : max(intervals, configuration.welcomeTimeout)
    }

    private func checkCoordinatorLiveness() {
        guard dealer != nil, now - lastHeard > silenceLimit else { return }
        var reason = welcomed ? "no heartbeat for \(liveness) intervals" : "no WELCOME"
        if !welcomed, let curve = configuration.curve {
            // A refused CURVE handshake looks just like silence from here: say what to check.
            reason += "; with CURVE, check that this worker's public key \(curve.secretKey.publicKey) is allowed "
                + "(`keyfarm keys list`) and that --coordinator-public-key is the coordinator's current key"
        }
        dropConnection(reason: reason)
    }

    func send(_ message: WireMessage) {
        guard let dealer else { return }
        do {
            try dealer.send(message.frames(), dontWait: true)
            lastSent = now
        } catch {
            logger.debug("cannot send", metadata: ["command": "\(message.command.rawValue)", "error": "\(error)"])
        }
    }

    /// Sends every unacknowledged RESULT again; the coordinator records each attempt once.
    func resendUnacknowledged() {
        for result in unacknowledged.values.sorted(by: { ($0.jobID, $0.attempt) < ($1.jobID, $1.attempt) }) {
            send(.result(result))
        }
        nextResend = unacknowledged.isEmpty ? .infinity : now + heartbeatInterval * Double(liveness)
    }

    private func sendHeartbeat() {
        var body = HeartbeatBody()
        body.freeSlots = UInt32(freeSlots)
        body.draining = draining
        send(.heartbeat(body))
    }
}
