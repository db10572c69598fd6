import Foundation
import KeyfarmCore

/// The farm's echo job: waits `ms` milliseconds, reporting progress, and fails (a transient
/// error) on its first `fail_attempts` attempts, or with probability `fail_rate`, like the
/// sleep jobs real farms ship for testing.
public struct SmokeEngine: JobEngine {
    public init() {}

    public func run(_ job: AssignedJob, context: JobContext) -> JobOutcome {
        let spec = job.specObject
        let milliseconds = max((spec["ms"] as? NSNumber)?.intValue ?? 0, 0)
        let failRate = min(max((spec["fail_rate"] as? NSNumber)?.doubleValue ?? 0, 0), 1)
        let failAttempts = max((spec["fail_attempts"] as? NSNumber)?.intValue ?? 0, 0)
        context.logger.debug("smoke job sleeping", metadata: ["ms": "\(milliseconds)"])
        let start = ContinuousClock.now
        let total = Duration.milliseconds(milliseconds)
        while true {
            let elapsed = ContinuousClock.now - start
            if elapsed >= total { break }
            if context.isCancelled { return .cancelled }
            let remaining = total - elapsed
            Thread.sleep(forTimeInterval: min(0.01, Double(remaining.components.attoseconds) / 1e18 + Double(remaining.components.seconds)))
            context.progress(elapsed / total)
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
