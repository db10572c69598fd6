import KeyfarmCore
import KeyfarmWire

/// How a coordinator listens, heartbeats and dispatches.
public struct CoordinatorConfiguration: Sendable {
    /// The ROUTER socket's endpoint, e.g. `tcp://0.0.0.0:5555`.
    public var bind: String
    /// The endpoint workers are told to use when this coordinator leads (a standby's DISCONNECT
    /// names the leader's); nil: the endpoint bound.
    public var advertise: String?
    /// How long the leader's lease lasts without renewal, in seconds. It renews every quarter
    /// of it, and first of all when three quarters passed without a renewal (stepping down if
    /// refused); a standby takes an expired lease within a quarter of it.
    public var leaderLease: Double = 2
    /// Seconds between heartbeats (sent by both sides; WELCOME tells workers).
    public var heartbeatInterval: Double = 1
    /// Missed heartbeat intervals after which a worker is lost.
    public var liveness: Int = 3
    /// How long a lease lasts in the database without renewal, in seconds.
    public var leaseSeconds: Double = 60
    /// How often to look for ready work without a NOTIFY (retry back-offs expiring), in seconds.
    public var claimPollInterval: Double = 0.5
    public var retryPolicy = RetryPolicy()
    /// Attempt timeouts per engine and the stall timeout, after which an attempt is stopped and retried.
    public var timeouts = AttemptTimeouts()
    /// How long a worker has to answer the CANCEL of an overdue attempt before the coordinator
    /// records the attempt anyway and retries the job, in seconds. Waiting for the answer lets
    /// the next attempt resume a provider request the stopped one was submitting.
    public var cancelGrace: Double = 90
    /// Messages read from the socket per reactor turn before the database catches up.
    public var receiveBatch = 4096
    /// The coordinator's CURVE secret key; with one, workers must speak CURVE and present a
    /// public key on the allow-list (`keyfarm keys`), and nothing else gets a job.
    public var curveSecretKey: CurveSecretKey?
    /// How long attempt log tails are kept, in seconds (nil: for ever). The coordinator empties
    /// older ones an hour apart, a batch per turn, so logs never hold up dispatch for long.
    public var logRetention: Double? = 30 * 86_400
    /// Log tails emptied per statement while pruning.
    public var logPruneBatch = 2_000

    public init(bind: String) { self.bind = bind }
}
