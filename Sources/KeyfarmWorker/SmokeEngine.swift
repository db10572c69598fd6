import Foundation
import KeyfarmCore

/// The farm's echo job (`SmokeSpec`): waits `ms` milliseconds, reporting progress, and fails
/// (a transient error) on its first `fail_attempts` attempts, or with probability `fail_rate`,
/// like the sleep jobs real farms ship for testing. `by_attempt` overrides any of these for one
/// attempt number, so that tests of the coordinator's timeouts can stall one attempt only.
public struct SmokeEngine: JobEngine {
    public init() {}

    public func run(_ job: AssignedJob, context: JobContext) -> JobOutcome {
        let spec: SmokeSpec
        do {
            spec = try SmokeSpec(json: job.spec).forAttempt(job.ref.attempt)
        } catch {
            return .failed(.invalid, error.description)
        }
        let milliseconds = max(spec.ms, 0)
        let failRate = min(max(spec.failRate, 0), 1)
        let reports = spec.progress
        let failAttempts = max(spec.failAttempts, 0)
        context.logger.debug("smoke job sleeping", metadata: ["ms": "\(milliseconds)"])
        let start = ContinuousClock.now
        let total = Duration.milliseconds(milliseconds)
        while true {
            let elapsed = ContinuousClock.now - start
            if elapsed >= total { break }
            if context.isCancelled { return .cancelled }
            let remaining = total - elapsed
            Thread.sleep(forTimeInterval: min(0.01, remaining.inSeconds))
            if reports { context.progress(elapsed / total) }
        }
        if job.ref.attempt <= failAttempts {
            context.logger.warning("failing on purpose", metadata: ["fail_attempts": "\(failAttempts)"])
            return .failed(.transient, "smoke job failed on purpose (attempt \(job.ref.attempt) of the first \(failAttempts))")
        }
        if failRate > 0 && Double.random(in: 0..<1) < failRate {
            context.logger.warning("failing on purpose", metadata: ["fail_rate": "\(failRate)"])
            return .failed(.transient, "smoke job failed on purpose (fail_rate \(failRate))")
        }
        return .succeeded()
    }
}
