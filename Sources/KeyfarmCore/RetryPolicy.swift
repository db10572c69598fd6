/// Why an attempt failed, as a worker reports it (and `lost` when the worker vanished).
public enum ErrorClass: String, Sendable, CaseIterable, Codable {
    /// Network trouble, timeouts, HTTP 5xx: worth another try after a back-off.
    case transient
    /// HTTP 429: try again, not before the provider's Retry-After.
    case rateLimited = "rate_limited"
    /// The provider's generation failed: worth another try after a back-off.
    case providerFailed = "provider_failed"
    /// The request can never succeed (HTTP 400/401/402/403/413/422, a bad input): terminal.
    case invalid
    /// The worker vanished mid-attempt: requeue at once. Lost attempts do not use up the job's
    /// `max_attempts` (the farm lost them, not the job), but a job that loses more than
    /// `RetryPolicy.maxLostAttempts` (it may be what kills its workers) fails; the count starts
    /// again when an operator retries the job.
    case lost
    /// The operator cancelled the shot list: never retried.
    case cancelled
    /// The coordinator stopped the attempt for running past its engine's attempt timeout:
    /// retried after a back-off, resuming its provider request.
    case timeout
    /// The coordinator stopped the attempt because its worker reported no progress for the
    /// stall timeout: retried after a back-off, resuming its provider request.
    case stalled
}

/// Decides whether and when a failed attempt is tried again: exponential back-off with full
/// jitter (delay drawn uniformly from 0 to min(cap, base * 2^(attempt-1))), as AWS's
/// "Exponential Backoff and Jitter" recommends. Pure: the random draw is an input.
public struct RetryPolicy: Sendable, Equatable {
    /// The back-off ceiling for the first retry, in seconds.
    public var base: Double
    /// The longest back-off, in seconds.
    public var cap: Double

    /// Lost attempts a job may have before a loss fails it: enough to ride out workers killed
    /// or restarted under it, few enough that a job which crashes its workers stops.
    public static let maxLostAttempts = 10

    public init(base: Double = 2, cap: Double = 300) {
        self.base = base
        self.cap = cap
    }

    public enum Decision: Sendable, Equatable {
        /// Queue the job again, not before this many seconds from now.
        case retry(after: Double)
        /// Fail the job for good, with this reason added to the error.
        case fail(reason: String)
    }

    /// - Parameters:
    ///   - attempt: the attempt that just failed (1 for the first).
    ///   - retryAfter: the provider's Retry-After in seconds, when it gave one.
    ///   - random: a uniform draw from [0, 1).
    public func decide(_ errorClass: ErrorClass, attempt: Int, maxAttempts: Int, retryAfter: Double? = nil,
                       random: Double) -> Decision {
        switch errorClass {
        case .invalid:
            return .fail(reason: "invalid request, not retried")
        case .cancelled:
            return .fail(reason: "cancelled")
        case .lost:
            // The store counts lost attempts against `maxLostAttempts`, not `maxAttempts`.
            return .retry(after: 0)
        default:
            break
        }
        guard attempt < maxAttempts else {
            return .fail(reason: "after \(attempt) of \(maxAttempts) attempts")
        }
        switch errorClass {
        case .rateLimited:
            if let retryAfter, retryAfter > 0 { return .retry(after: Swift.min(retryAfter, 3600)) }
            return .retry(after: backOff(attempt: attempt, random: random))
        default:
            return .retry(after: backOff(attempt: attempt, random: random))
        }
    }

    /// The full-jitter delay for the retry after `attempt`.
    public func backOff(attempt: Int, random: Double) -> Double {
        let exponent = Double(Swift.min(Swift.max(attempt - 1, 0), 30))
        let ceiling = Swift.min(cap, base * pow2(exponent))
        return Swift.min(Swift.max(random, 0), 1) * ceiling
    }

    private func pow2(_ exponent: Double) -> Double {
        var value = 1.0
        for _ in 0..<Int(exponent) { value *= 2 }
        return value
    }
}

/// How many failures of one worker on one shot make the coordinator stop giving it that shot
/// (Flamenco's per-job blocklist, applied per shot).
public enum Blocklist {
    public static let failuresPerShot = 3
}

/// Provider failure codes that speak for the whole account rather than one job.
public enum ProviderAccountFailure {
    /// Codes after which the provider takes no more work from the account until someone acts
    /// (Luma Agents' `budget_exhausted`).
    public static let accountCodes: Set<String> = ["budget_exhausted"]

    public static func suspendsAccount(_ code: String) -> Bool { accountCodes.contains(code) }
}
