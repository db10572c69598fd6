import Foundation
import KeyfarmCore

/// The farm's echo job: waits `ms` milliseconds, reporting progress, and fails with
/// probability `fail_rate` (a transient error), like the sleep jobs real farms ship for testing.
public struct SmokeEngine: JobEngine {
    public init() {}

    public func run(_ job: AssignedJob, context: JobContext) -> JobOutcome {
        let spec = job.specObject
        let milliseconds = max((spec["ms"] as? NSNumber)?.intValue ?? 0, 0)
        let failRate = min(max((spec["fail_rate"] as? NSNumber)?.doubleValue ?? 0, 0), 1)
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
        if failRate > 0 && Double.random(in: 0..<1) < failRate {
            return .failed(.transient, "smoke job failed on purpose (fail_rate \(failRate))")
        }
        return .succeeded()
    }
}
