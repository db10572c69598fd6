import KeyfarmCore
import KeyfarmStore
import KeyfarmWire
import Logging

/// An overdue attempt the coordinator told its worker to stop.
struct Stopping {
    var errorClass: ErrorClass
    var reason: String
    /// When to record the attempt even if the worker has not answered the CANCEL.
    var giveUpAt: Double
}

extension Coordinator {
    /// Stops attempts past their attempt timeout or silent for the stall timeout: CANCEL goes to
    /// the worker, and the attempt is recorded as failed (`timeout`, `stalled`) when the worker's
    /// RESULT comes, or after `cancelGrace` without one. Checked four times a second at most.
    func stopOverdueAttempts() throws {
        let current = now
        guard current >= nextOverdueCheck else { return }
        nextOverdueCheck = current + 0.25
        for (ref, overdue) in clocks.removeOverdue(now: current) {
            guard let identity = roster.holder(of: ref), stopping[ref] == nil else { continue }
            let reason = switch overdue {
            case .timedOut(let limit): "stopped by the coordinator: still running after the attempt timeout of \(DurationText.format(limit))"
            case .stalled(let silence): "stopped by the coordinator: no progress reported for \(DurationText.format(silence)) (stall timeout)"
            }
            stopping[ref] = Stopping(errorClass: overdue.errorClass, reason: reason, giveUpAt: current + configuration.cancelGrace)
            sendCancel(ref, reason: reason, to: identity)
            logger.warning("stopping an overdue attempt", metadata: [
                "job.id": "\(ref.jobID)", "job.attempt": "\(ref.attempt)", "error_class": "\(overdue.errorClass.rawValue)",
                "worker.name": "\(roster.member(identity)?.name ?? "?")", "reason": "\(reason)"])
        }
        for (ref, stop) in stopping where current >= stop.giveUpAt {
            // The worker still holds the slot (its thread may be stuck in a call), so the roster
            // keeps it until the RESULT; the job goes on without it.
            stopping[ref] = nil
            logger.warning("a worker did not stop an overdue attempt; retrying the job anyway", metadata: [
                "job.id": "\(ref.jobID)", "job.attempt": "\(ref.attempt)",
                "grace.seconds": "\(configuration.cancelGrace)"])
            _ = try recordStopped(ref, stop, limit: limits.removeValue(forKey: ref), charge: nil)
        }
    }

    /// Records an attempt this coordinator stopped as failed with its class, and lets the retry
    /// policy schedule the next attempt, which resumes the attempt's provider request if it had one.
    func recordStopped(_ ref: AttemptRef, _ stop: Stopping, limit: (inRound: Int, max: Int)?,
                       charge: Charge?) throws -> CompletionOutcome {
        wantClaim = true
        return try failAttempt(ref, stop.errorClass, error: stop.reason, limit: limit, charge: charge)
    }

    /// Starts the clocks of an attempt a worker now holds.
    func startClocks(_ ref: AttemptRef, engine: String?, kind: String) {
        clocks.start(ref, limit: configuration.timeouts.limit(engine: engine, kind: kind), now: now)
    }

    /// Forgets an attempt's clocks and any stop in progress (its outcome is being recorded).
    func stopClocks(_ ref: AttemptRef) {
        clocks.stop(ref)
        stopping[ref] = nil
        unconfirmedAssigns[ref] = nil
    }
}
