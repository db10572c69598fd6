/// Who a coordinator running with CURVE admits, and which refusals it has already logged: the
/// ZAP handler's decisions as a state machine without I/O, with time as an input.
///
/// A refused worker retries its handshake every few hundred milliseconds, so the gate logs each
/// unknown key once (remembering at most `rememberedKeys` of them), and each kind of failed
/// handshake (plain text, a wrong coordinator key) once, then at most one count an hour.
public struct WorkerKeyGate: Sendable {
    /// Unknown keys remembered as logged; past this, one line says so and the rest go unlogged.
    public static let rememberedKeys = 1000
    /// Seconds between the counts of repeated handshake failures of one kind.
    public static let summaryInterval: Double = 3600

    /// The allowed keys (Z85) and their names.
    public private(set) var allowed: [String: String] = [:]
    private var refused: Set<String> = []
    private var overflowLogged = false
    private var failures: [UInt32: (unlogged: Int, windowStart: Double)] = [:]

    public init() {}

    /// What to do with a ZAP request.
    public enum Decision: Equatable, Sendable {
        /// Admit the worker whose key is on the list under `name`.
        case admit(name: String)
        /// Refuse it; `log` says which line to write, if any.
        case refuse(log: RefusalLog?)
    }

    public enum RefusalLog: Equatable, Sendable {
        /// The first time this key was refused.
        case firstForKey
        /// The first key past `rememberedKeys`: say that further ones go unlogged.
        case tooManyKeys
    }

    /// Replaces the allow-list (at start, and on every NOTIFY of a change); keys allowed now are
    /// forgotten as refused, so one removed again later is logged again.
    public mutating func replaceAllowed(_ keys: [(name: String, publicKey: String)]) {
        allowed = Dictionary(keys.map { ($0.publicKey, $0.name) }, uniquingKeysWith: { first, _ in first })
        refused.subtract(allowed.keys)
    }

    /// The name a public key (Z85) is allowed under; nil once it is off the list (a connection
    /// admitted before its key was removed still carries the key).
    public func name(ofAllowed publicKey: String) -> String? { allowed[publicKey] }

    /// Decides on a client's public key (Z85).
    public mutating func decide(publicKey: String) -> Decision {
        if let name = allowed[publicKey] { return .admit(name: name) }
        if refused.contains(publicKey) { return .refuse(log: nil) }
        guard refused.count < Self.rememberedKeys else {
            if overflowLogged { return .refuse(log: nil) }
            overflowLogged = true
            return .refuse(log: .tooManyKeys)
        }
        refused.insert(publicKey)
        return .refuse(log: .firstForKey)
    }

    /// What to log about a failed handshake.
    public enum FailureLog: Equatable, Sendable {
        /// The first failure of this kind.
        case first
        /// `count` more of this kind since the last line, at least `summaryInterval` ago.
        case repeated(count: Int)
    }

    /// Records a failed handshake with ZMTP error `code` at `now` (seconds); nil means say nothing.
    public mutating func handshakeFailed(code: UInt32, now: Double) -> FailureLog? {
        guard var entry = failures[code] else {
            failures[code] = (0, now)
            return .first
        }
        entry.unlogged += 1
        if now - entry.windowStart >= Self.summaryInterval {
            let count = entry.unlogged
            failures[code] = (0, now)
            return .repeated(count: count)
        }
        failures[code] = entry
        return nil
    }
}
