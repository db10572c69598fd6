import Foundation
import KeyfarmCore
import KeyfarmDecisions
import KeyfarmWire
import Logging

/// The worker daemon: a reactor on one thread that owns the DEALER socket to the coordinator
/// and an `inproc://` PULL socket its job threads report through. What it does about what it
/// hears (connect, heartbeat, accept, hand back, send again, drain, exit) is its
/// `WorkerSession`'s decision; the reactor turns sockets and signals into the session's events
/// and carries out its actions.
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
    var session: WorkerSession
    /// The controls of the attempts on slot threads.
    var controls: [AttemptRef: JobControl] = [:]
    var dealer: ZMQSocket?
    /// With CURVE: the connection's monitor, which hears the coordinator refuse this worker's
    /// key (ZAP) at once, rather than after a silent wait for WELCOME.
    var handshakeMonitor: ZMQSocket?
    var nextWatchdog: Double = 0
    var exitStatus: Int32?

    public init(configuration: WorkerConfiguration, engines: [String: any JobEngine], logger: Logger,
                notifier: SystemdNotifier, context: ZMQContext = .shared) throws {
        self.configuration = configuration
        self.engines = engines
        self.logger = logger
        self.logger[metadataKey: "worker.name"] = "\(configuration.name)"
        self.notifier = notifier
        self.context = context
        started = clock.now
        var settings = WorkerSession.Settings(name: configuration.name, instance: instance, slots: configuration.slots)
        settings.version = configuration.version
        settings.host = configuration.host
        settings.engines = configuration.engines
        settings.storageRoot = URL(fileURLWithPath: configuration.storage).standardizedFileURL.path
        settings.endpoints = configuration.endpoints
        settings.heartbeatInterval = configuration.heartbeatInterval
        settings.liveness = configuration.liveness
        settings.welcomeTimeout = configuration.welcomeTimeout
        settings.reconnectMinimum = configuration.reconnectMinimum
        settings.reconnectMaximum = configuration.reconnectMaximum
        settings.drainTimeout = configuration.drainTimeout
        settings.curvePublicKey = configuration.curve.map { "\($0.secretKey.publicKey)" }
        session = WorkerSession(settings: settings)
        engineEndpoint = "inproc://keyfarm-worker-engines-\(instance)"
        engineSocket = try ZMQSocket(context: context, type: .pull)
        try engineSocket.setLinger(milliseconds: 0)
        try engineSocket.bind(engineEndpoint)
        pool = SlotPool(slots: configuration.slots, endpoint: engineEndpoint, context: context)
    }

    var now: Double {
        (clock.now - started).inSeconds
    }

    /// Runs until stopped and drained; returns the process's exit status (0 after a clean drain).
    public func run(until stop: StopSignal) throws -> Int32 {
        try FileManager.default.createDirectory(atPath: configuration.storage, withIntermediateDirectories: true)
        notifier.status("connecting to \(configuration.connect)")
        while true {
            let poller = ZMQPoller()
            let engineItem = poller.add(.socket(engineSocket))
            // Once stopping, the signal stays readable: it is no longer polled.
            let stopItem = session.stopping ? nil : poller.add(.descriptor(stop.descriptor))
            let dealerItem = dealer.map { poller.add(.socket($0)) }
            let monitorItem = handshakeMonitor.map { poller.add(.socket($0)) }
            let ready = try poller.poll(timeout: pollTimeout())
            if let stopItem, ready.contains(stopItem) { try handle(.stopRequested) }
            if ready.contains(engineItem) { try receiveFromEngines() }
            if let dealerItem, ready.contains(dealerItem) { try receiveFromCoordinator() }
            if let monitorItem, ready.contains(monitorItem) { try readHandshakeEvents() }
            try handle(.tick)
            if let interval = notifier.watchdogInterval, now >= nextWatchdog {
                notifier.watchdog()
                nextWatchdog = now + interval.inSeconds
            }
            if let exitStatus { return finish(status: exitStatus) }
        }
    }

    private func pollTimeout() -> Duration {
        var deadline = session.nextWakeUp(after: now)
        if notifier.watchdogInterval != nil { deadline = min(deadline, nextWatchdog) }
        return .milliseconds(Int64((max(0, deadline - now) * 1000).rounded(.up)))
    }

    /// Hands an event to the session and carries out what it decides.
    func handle(_ event: WorkerSession.Event) throws {
        for action in session.handle(event, now: now) {
            switch action {
            case .connect(let number, let endpoint, let hello):
                closeConnection()
                try openConnection(number: number, endpoint: endpoint)
                send(.hello(hello))
            case .close:
                closeConnection()
            case .send(let message):
                send(message)
            case .start(let body, let handBack):
                start(body, handBack: handBack)
            case .cancel(let ref):
                controls[ref]?.cancel()
            case .requestHandBack(let ref):
                controls[ref]?.requestHandBack()
            case .acknowledgeSubmission(let ref):
                controls[ref]?.acknowledgeSubmission()
            case .log(let level, let message, let metadata):
                logger.log(level: level, message, metadata: metadata)
            case .status(let text):
                notifier.status(text)
            case .ready(let text):
                notifier.ready(status: text)
            case .exit(let status):
                exitStatus = status
            case .roundTrip(let seconds):
                logger.trace("heartbeat answered", metadata: ["round_trip.ms": "\(String(format: "%.3f", seconds * 1000))"])
            }
        }
    }

    private func finish(status: Int32) -> Int32 {
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

    /// Opens a DEALER socket with its own routing id (name, process, connection number).
    private func openConnection(number: Int, endpoint coordinator: String) throws {
        let socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.setIdentity(Array("\(configuration.name)/\(instance)/\(number)".utf8))
        try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
        try socket.setTCPKeepalive(true)
        if let curve = configuration.curve {
            try socket.setCurveClient(serverKey: curve.coordinatorKey, secretKey: curve.secretKey)
            let endpoint = "inproc://keyfarm-worker-monitor-\(instance)-\(number)"
            try socket.monitor(endpoint, events: ZMQMonitorEvent.handshakeFailedAuth)
            let monitor = try ZMQSocket(context: context, type: .pair)
            try monitor.setLinger(milliseconds: 0)
            try monitor.connect(endpoint)
            handshakeMonitor = monitor
        }
        try socket.connect(coordinator)
        dealer = socket
    }

    /// Closes the DEALER socket and its monitor.
    private func closeConnection() {
        dealer?.stopMonitoring()
        dealer?.close()
        dealer = nil
        handshakeMonitor?.close()
        handshakeMonitor = nil
    }

    /// Reads the coordinator's refusals of this worker's key (a ZAP status in the CURVE handshake).
    private func readHandshakeEvents() throws {
        guard let monitor = handshakeMonitor else { return }
        while let frames = try monitor.receive(dontWait: true) {
            guard let event = ZMQMonitorEvent(frames: frames), event.event == ZMQMonitorEvent.handshakeFailedAuth else { continue }
            try handle(.keyRefused(status: event.value))
        }
    }

    private func send(_ message: WireMessage) {
        guard let dealer else { return }
        do {
            try dealer.send(message.frames(), dontWait: true)
        } catch {
            logger.debug("cannot send", metadata: ["command": "\(message.command.rawValue)", "error": "\(error)"])
        }
    }
}
