/// Which coordinator leads, as one coordinator sees it: a state machine without I/O over a
/// lease row in PostgreSQL (`keyfarm.coordinator_lease`: holder, epoch, expiry by the
/// database's clock). A standby tries to take the lease when it has expired; the leader renews
/// it every `renewEvery`. A leader that went `lease` minus a margin without a renewal (a long
/// turn, a pause) renews before it acts on anything else, and steps down when that renewal is
/// refused, or cannot be made. Every takeover increases the epoch, and every
/// transaction a leader commits checks it (the store's fence), so a deposed leader that still
/// runs commits nothing: its refused commit is an event here, and it steps down.
///
/// A lease row rather than an advisory lock: a lock is released only when PostgreSQL notices
/// the session is gone, which for a host that vanished (no FIN) is TCP keepalive's minutes,
/// and a lock carries no epoch to fence a paused leader's late writes with.
public struct Leadership: Sendable {
    public struct Settings: Sendable {
        /// How long a lease lasts without renewal, in seconds (by the database's clock).
        public var lease: Double = 2
        /// How often the leader renews, and a standby looks, in seconds.
        public var renewEvery: Double = 0.5
        /// How long before its lease would run out the leader stops acting without a renewal.
        public var margin: Double = 0.5

        public init() {}
    }

    public enum Role: Sendable, Equatable {
        /// Waiting for the lease; `leader` is the endpoint workers are pointed to, when known.
        case standby(leader: String?, epoch: Int64?)
        /// Holding the lease at this epoch.
        case leading(epoch: Int64)
    }

    public enum Event: Sendable, Equatable {
        case tick
        /// The answer to `.acquire`: taken at this epoch, or held by another until it expires.
        case acquired(epoch: Int64)
        case heldByOther(endpoint: String, epoch: Int64)
        /// The answer to `.renew`: renewed, or the row no longer says this holder and epoch.
        case renewed
        case renewalRefused
        /// The database could not be asked (the connection is down).
        case databaseUnreachable
        /// A turn's commit was refused because the epoch moved on: another coordinator leads.
        case fenced
    }

    public enum Action: Sendable, Equatable {
        /// Try to take an expired (or absent) lease, holding it for `lease` seconds.
        case acquire(seconds: Double)
        /// Extend the lease held at this epoch.
        case renew(epoch: Int64, seconds: Double)
        /// Start leading: load the leased attempts and serve, fencing every commit with `epoch`.
        case lead(epoch: Int64)
        /// Stop leading at once: forget every worker and attempt, as a restart would, and stand by.
        case stepDown(reason: String)
    }

    public let settings: Settings
    public private(set) var role: Role = .standby(leader: nil, epoch: nil)
    /// When the leader last renewed (local monotonic seconds), and when it next asks.
    var renewedAt: Double = 0
    var nextAsk: Double = 0
    /// Whether an answer is awaited (the reactor asks one question at a time), and since when:
    /// a renewal counts from when it was asked, since the database may have run it any time after.
    var asking = false
    var askedAt: Double = 0

    public init(settings: Settings = Settings()) { self.settings = settings }

    public var isLeading: Bool { if case .leading = role { true } else { false } }

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        switch (event, role) {
        case (.tick, .standby):
            guard !asking, now >= nextAsk else { return [] }
            asking = true
            askedAt = now
            nextAsk = now + settings.renewEvery
            return [.acquire(seconds: settings.lease)]
        case (.tick, .leading(let epoch)):
            // Not renewed for too long (a long turn, a pause): a standby may take the lease any
            // moment. Renew at once, before acting on anything: the renewal succeeds only if the
            // row still names this holder at this epoch, so either nothing was lost or the
            // refusal deposes it. (Its commits are fenced meanwhile in any case.)
            guard !asking, now >= nextAsk || isLapsed(now) else { return [] }
            asking = true
            askedAt = now
            nextAsk = now + settings.renewEvery
            return [.renew(epoch: epoch, seconds: settings.lease)]
        case (.acquired(let epoch), .standby):
            asking = false
            role = .leading(epoch: epoch)
            renewedAt = askedAt
            return [.lead(epoch: epoch)]
        case (.heldByOther(let endpoint, let epoch), .standby):
            asking = false
            role = .standby(leader: endpoint, epoch: epoch)
            return []
        case (.renewed, .leading):
            asking = false
            renewedAt = askedAt
            return []
        case (.renewalRefused, .leading(let epoch)):
            asking = false
            return stepDown("another coordinator took the lease", epoch: epoch)
        case (.fenced, .leading(let epoch)):
            asking = false
            return stepDown("a commit was refused: another coordinator leads at a later epoch", epoch: epoch)
        case (.databaseUnreachable, .leading(let epoch)):
            // The answer will not come. Past the margin a standby may already lead: stop acting.
            asking = false
            if isLapsed(now) {
                return stepDown("the lease was not renewed for \(Self.format(now - renewedAt)) s", epoch: epoch)
            }
            return []
        case (.databaseUnreachable, .standby):
            // The next tick asks again.
            asking = false
            return []
        default:
            // Answers that no longer fit the role (a late renewal after stepping down) change nothing.
            asking = false
            return []
        }
    }

    /// Whether the leader has gone `lease` minus `margin` without a renewal.
    func isLapsed(_ now: Double) -> Bool { now - renewedAt >= settings.lease - settings.margin }

    /// When the reactor must wake up at the latest: the next question, or (leading) the moment
    /// its lease lapses without a renewal.
    public func nextWakeUp(after now: Double) -> Double {
        var deadline = asking ? now + settings.renewEvery : max(nextAsk, now)
        if isLeading { deadline = min(deadline, renewedAt + settings.lease - settings.margin) }
        return deadline
    }

    /// The endpoint of the coordinator that leads, as last seen (nil when unknown or this one).
    public var leaderEndpoint: String? {
        if case .standby(let leader, _) = role { leader } else { nil }
    }

    /// A stop or a lost database: stand by without asking anything (the lease is given up or
    /// lapses by itself).
    public mutating func reset() {
        if case .leading(let epoch) = role { role = .standby(leader: nil, epoch: epoch) }
        asking = false
        nextAsk = 0
    }

    private mutating func stepDown(_ reason: String, epoch: Int64) -> [Action] {
        role = .standby(leader: nil, epoch: epoch)
        asking = false
        nextAsk = 0
        return [.stepDown(reason: reason)]
    }

    static func format(_ seconds: Double) -> String { String(Double(Int(seconds * 10)) / 10) }
}
