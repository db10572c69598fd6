import KeyfarmCore
import KeyfarmProtocol
import Logging

/// A worker's side of the protocol as a state machine without I/O: connecting, awaiting
/// WELCOME, welcomed, draining and stopping; the reconnect back-off, heartbeats, results kept
/// and sent again until acknowledged, and hand-back on a drain. Events in (messages from the
/// coordinator, reports from the job threads, the stop signal, timer ticks), actions out
/// (open or close the connection, send, start or stop a job, log, tell systemd, exit). Time is
/// an input, so every rule is tested without sockets or sleeps.
public struct WorkerSession: Sendable {
    public struct Settings: Sendable {
        public var name: String
        /// Random per process: a new one is a restart.
        public var instance: String
        public var version = ""
        public var host = ""
        /// Capabilities offered (engine names, `provider/*`, `stitch`, `smoke`).
        public var engines: [String] = []
        public var slots: Int
        /// Where the farm's storage is mounted, as HELLO says.
        public var storageRoot = ""
        /// The coordinators' endpoints, tried in order: a leader and its standbys.
        public var endpoints: [String] = []
        /// How long after losing a coordinator a standby's hint naming it is not followed (that
        /// standby is about to lead), in seconds.
        public var lostLeaderWindow: Double = 5
        /// How soon to ask again after a standby that names no usable leader, in seconds.
        public var standbyRetry: Double = 0.5
        /// Until the coordinator's WELCOME says otherwise.
        public var heartbeatInterval: Double = 1
        public var liveness = 3
        /// The least time to wait for WELCOME after a HELLO before reconnecting.
        public var welcomeTimeout: Double = 10
        /// Reconnect back-off: from `reconnectMinimum` seconds doubling up to `reconnectMaximum`.
        public var reconnectMinimum: Double = 1
        public var reconnectMaximum: Double = 32
        /// How long a SIGTERM drain may take before the worker exits anyway.
        public var drainTimeout: Double = 900
        /// With CURVE: this worker's public key (Z85), named in the errors that need it.
        public var curvePublicKey: String?

        public init(name: String, instance: String, slots: Int) {
            self.name = name
            self.instance = instance
            self.slots = slots
        }
    }

    public enum Event: Sendable {
        /// The poll woke up (timeout or any socket): timers are checked.
        case tick
        /// A message from the coordinator on the current connection. `runnable` says, for an
        /// ASSIGN, whether this worker has an engine for it.
        case received(WireMessage, runnable: Bool = true)
        /// Any frames arrived on the connection (even undecodable): the coordinator is alive.
        case heard
        /// PROGRESS, SUBMITTED or RESULT from a job thread.
        case report(WireMessage)
        /// SIGTERM or SIGINT: drain, then exit.
        case stopRequested
        /// The coordinator refused this worker's key in the CURVE handshake (ZAP status).
        case keyRefused(status: UInt32)
    }

    public enum Action: Sendable, Equatable {
        /// Close any connection and open a new one to `endpoint` (connection number given), then
        /// send this HELLO.
        case connect(number: Int, endpoint: String, hello: HelloBody)
        /// Close the connection (its queued messages are dropped).
        case close
        /// Send on the current connection.
        case send(WireMessage)
        /// Run an attempt on a slot thread; `handBack` asks it at once to hand itself back.
        case start(AssignBody, handBack: Bool)
        /// Tell a running attempt to stop.
        case cancel(AttemptRef)
        /// Ask a running attempt to hand itself back if it can (a drain).
        case requestHandBack(AttemptRef)
        /// The provider request of this attempt is stored: it may poll.
        case acknowledgeSubmission(AttemptRef)
        case log(Logger.Level, Logger.Message, Logger.Metadata)
        /// systemd STATUS=.
        case status(String)
        /// systemd READY=1, with a status: the first WELCOME.
        case ready(String)
        /// Leave the reactor with this exit status: 0 after a clean drain.
        case exit(Int32)
        /// The coordinator answered a heartbeat's ping after this many seconds.
        case roundTrip(Double)
    }

    /// Where the connection stands.
    public enum Connection: Sendable, Equatable {
        /// No connection; the next one opens at this time.
        case closed(reconnectAt: Double)
        /// HELLO sent on this connection; no WELCOME yet.
        case awaitingWelcome
        case welcomed
    }

    /// An attempt on a slot thread.
    struct Attempt: Sendable {
        var engine: String
        var providerRequestID: String
        var progress: Double = 0
        /// WELCOME said it is no longer this worker's: it is being stopped.
        var abandoned = false
    }

    public let settings: Settings
    public internal(set) var connection: Connection = .closed(reconnectAt: 0)
    var connections = 0
    var everWelcomed = false
    var refusalLogged = false
    var lastHeard: Double = 0
    var lastSent: Double = 0
    var reconnectDelay: Double
    public internal(set) var heartbeatInterval: Double
    public internal(set) var liveness: Int
    var running: [AttemptRef: Attempt] = [:]
    /// Every RESULT not yet acknowledged: sent again until RESULT_ACK.
    var unacknowledged: [AttemptRef: ResultBody] = [:]
    var nextResend: Double = .infinity
    public internal(set) var drainedByOperator = false
    public internal(set) var stopping = false
    var stopDeadline: Double = .infinity
    /// The endpoint of the current (or next) connection: one of `settings.endpoints`, or a
    /// leader a standby named.
    public internal(set) var endpoint: String
    /// Where in `settings.endpoints` the next failover goes on from.
    var endpointIndex = 0
    /// Connections given up (silence) and standby hops since the last WELCOME.
    var missesSinceWelcome = 0
    var hopsSinceWelcome = 0
    /// The coordinator this worker last lost after a WELCOME, and when.
    var lostEndpoint: String?
    var lostAt: Double = -.infinity

    public init(settings: Settings) {
        self.settings = settings
        endpoint = settings.endpoints.first ?? ""
        reconnectDelay = settings.reconnectMinimum
        heartbeatInterval = settings.heartbeatInterval
        liveness = settings.liveness
    }

    public var draining: Bool { drainedByOperator || stopping }
    public var freeSlots: Int { draining ? 0 : max(settings.slots - running.count, 0) }
    public var welcomed: Bool { connection == .welcomed }
    /// Results waiting for their RESULT_ACK.
    public var unacknowledgedResults: Set<AttemptRef> { Set(unacknowledged.keys) }

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .tick:
            tick(now: now, into: &actions)
        case .heard:
            lastHeard = now
        case .received(let message, let runnable):
            lastHeard = now
            receive(message, runnable: runnable, now: now, into: &actions)
        case .report(let message):
            report(message, now: now, into: &actions)
        case .stopRequested:
            beginStopping(now: now, into: &actions)
        case .keyRefused(let status):
            guard !refusalLogged, let key = settings.curvePublicKey else { break }
            refusalLogged = true
            actions.append(.log(.error, """
                the coordinator refused this worker's key \(key) (ZAP status \(status)): \
                it gets no job until the key is allowed (`keyfarm keys add` its .pub on a host with the database); \
                still trying
                """, [:]))
            actions.append(.status("refused by the coordinator: key \(key) is not allowed"))
        }
        return actions
    }

    /// When the reactor must wake up at the latest.
    public func nextWakeUp(after now: Double) -> Double {
        var deadline = now + 1
        switch connection {
        case .closed(let reconnectAt):
            deadline = min(deadline, reconnectAt)
        case .awaitingWelcome:
            deadline = min(deadline, lastHeard + silenceLimit + 0.001)
        case .welcomed:
            deadline = min(deadline, lastSent + heartbeatInterval, nextResend, lastHeard + silenceLimit + 0.001)
        }
        if stopping { deadline = min(deadline, stopDeadline) }
        return deadline
    }

    /// How long the coordinator may be silent before this connection is given up: `liveness`
    /// intervals once welcomed; before that, at least `welcomeTimeout`.
    var silenceLimit: Double {
        let intervals = heartbeatInterval * Double(liveness)
        return welcomed ? intervals : max(intervals, settings.welcomeTimeout)
    }
}
