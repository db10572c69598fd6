/// A smoke job's spec (`keyfarm smoke`): wait `ms` milliseconds, reporting progress, then fail
/// (a transient error) on the first `failAttempts` attempts, or with probability `failRate`,
/// like the sleep jobs real farms ship for testing. Every field is optional.
///
/// For tests of the coordinator's timeouts, `progress: false` waits without reporting, and
/// `byAttempt` overrides any field for one attempt number:
/// `{"ms": 50, "by_attempt": {"1": {"ms": 60000, "progress": false}}}` stalls the first attempt only.
public struct SmokeSpec: JobSpecDocument {
    public static let kind = "smoke"

    public var ms = 0
    public var failRate = 0.0
    public var failAttempts = 0
    public var progress = true
    /// Overrides by attempt number (`"1"`, `"2"`, ...).
    public var byAttempt: [String: Override] = [:]

    public init(ms: Int = 0, failRate: Double = 0, failAttempts: Int = 0, progress: Bool = true) {
        self.ms = ms
        self.failRate = failRate
        self.failAttempts = failAttempts
        self.progress = progress
    }

    /// What one attempt does differently.
    public struct Override: Codable, Sendable, Equatable {
        public var ms: Int?
        public var failRate: Double?
        public var failAttempts: Int?
        public var progress: Bool?

        public init(ms: Int? = nil, failRate: Double? = nil, failAttempts: Int? = nil, progress: Bool? = nil) {
            self.ms = ms
            self.failRate = failRate
            self.failAttempts = failAttempts
            self.progress = progress
        }

        enum CodingKeys: String, CodingKey {
            case ms, failRate = "fail_rate", failAttempts = "fail_attempts", progress
        }
    }

    /// The spec as attempt `attempt` runs it: its override applied.
    public func forAttempt(_ attempt: Int) -> SmokeSpec {
        guard let override = byAttempt["\(attempt)"] else { return self }
        var spec = self
        spec.ms = override.ms ?? ms
        spec.failRate = override.failRate ?? failRate
        spec.failAttempts = override.failAttempts ?? failAttempts
        spec.progress = override.progress ?? progress
        return spec
    }

    enum CodingKeys: String, CodingKey {
        case kind, ms, failRate = "fail_rate", failAttempts = "fail_attempts", progress, byAttempt = "by_attempt"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ms = try c.value(.ms, or: 0)
        failRate = try c.value(.failRate, or: 0)
        failAttempts = try c.value(.failAttempts, or: 0)
        progress = try c.value(.progress, or: true)
        byAttempt = try c.value(.byAttempt, or: [:])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.kind, forKey: .kind)
        try c.encode(ms, forKey: .ms)
        try c.encode(failRate, forKey: .failRate)
        if failAttempts > 0 { try c.encode(failAttempts, forKey: .failAttempts) }
        if !progress { try c.encode(false, forKey: .progress) }
        if !byAttempt.isEmpty { try c.encode(byAttempt, forKey: .byAttempt) }
    }
}
