import KeyfarmCore
import KeyfarmProtocol
import Logging

extension Dispatcher {
    /// At start-up (and after the database came back): every job the database says is leased
    /// waits one liveness window for its worker to come back and report it; the rest are then
    /// requeued as lost. With CURVE on, the allow-list is loaded first.
    mutating func start(leases: [Lease], now: Double, into actions: inout [Action]) {
        if settings.curve { actions.append(.query(.workerKeys)) }
        unclaimedLeases = Dictionary(grouping: leases, by: \.workerName)
        adoptionDeadline = now + roster.deadAfter + settings.adoptionGrace
        if !leases.isEmpty {
            actions.append(.log(.info, "waiting for workers to reclaim their jobs", [
                "jobs": "\(leases.count)", "workers": "\(unclaimedLeases.count)", "seconds": "\(roster.deadAfter)"]))
        }
    }

    /// What is due after a turn: cancellations, overdue attempts, lost workers, leases nobody
    /// came back for, heartbeats, lease renewal and log pruning.
    mutating func tick(now: Double, into actions: inout [Action]) {
        for list in cancelledLists { actions.append(.query(.cancelledJobs(shotListID: list))) }
        cancelledLists.removeAll()
        stopOverdueAttempts(now: now, into: &actions)
        if let due = roster.sweep(now: now) {
            for member in due.lost {
                actions.append(.log(.warning, "worker lost", ["worker.name": "\(member.name)",
                                                              "silent.seconds": "\(roster.deadAfter)",
                                                              "jobs": "\(member.running.count)"]))
                lose(member, reason: "worker \(member.name) stopped answering", finalState: "lost", into: &actions)
            }
            for identity in due.heartbeat { send(.heartbeat(HeartbeatBody()), to: identity, now: now, into: &actions) }
        }
        loseUnclaimedLeases(now: now, into: &actions)
        if now >= nextLeaseRenewal {
            nextLeaseRenewal = now + settings.leaseSeconds / 3
            actions.append(.store(.renewLeases(workerIDs: roster.members.values.map(\.workerID).sorted(),
                                               seconds: settings.leaseSeconds)))
        }
        if let retention = settings.logRetention, now >= nextLogPrune {
            // Until the answer says otherwise, not again within the hour.
            nextLogPrune = now + 3_600
            actions.append(.query(.pruneLogs(olderThan: retention, limit: settings.logPruneBatch)))
        }
    }

    /// Leases nobody came back for within the adoption window.
    mutating func loseUnclaimedLeases(now: Double, into actions: inout [Action]) {
        if !unclaimedLeases.isEmpty && now >= adoptionDeadline {
            let leases = unclaimedLeases.values.joined().sorted { $0.ref < $1.ref }
            for lease in leases {
                recordLoss(lease.ref, limit: lease.limit,
                           reason: "worker \(lease.workerName) did not come back after a coordinator restart", into: &actions)
            }
            actions.append(.store(.setWorkerStates(Set(leases.map(\.workerID)).sorted().map {
                WorkerState(workerID: $0, state: "lost")
            })))
            unclaimedLeases = [:]
        }
    }

    /// Stops attempts past their attempt timeout or silent for the stall timeout: CANCEL goes to
    /// the worker, and the attempt is recorded as failed (`timeout`, `stalled`) when the worker's
    /// RESULT comes, or after `cancelGrace` without one. Checked four times a second at most.
    mutating func stopOverdueAttempts(now: Double, into actions: inout [Action]) {
        guard now >= nextOverdueCheck else { return }
        nextOverdueCheck = now + 0.25
        for (ref, overdue) in clocks.removeOverdue(now: now) {
            guard let identity = roster.holder(of: ref), stopping[ref] == nil else { continue }
            let reason = switch overdue {
            case .timedOut(let limit): "stopped by the coordinator: still running after the attempt timeout of \(DurationText.format(limit))"
            case .stalled(let silence): "stopped by the coordinator: no progress reported for \(DurationText.format(silence)) (stall timeout)"
            }
            stopping[ref] = Stopping(errorClass: overdue.errorClass, reason: reason, giveUpAt: now + settings.cancelGrace)
            sendCancel(ref, reason: reason, to: identity, now: now, into: &actions)
            actions.append(.log(.warning, "stopping an overdue attempt", [
                "job.id": "\(ref.jobID)", "job.attempt": "\(ref.attempt)", "error_class": "\(overdue.errorClass.rawValue)",
                "worker.name": "\(roster.member(identity)?.name ?? "?")", "reason": "\(reason)"]))
        }
        for (ref, stop) in stopping.sorted(by: { $0.key < $1.key }) where now >= stop.giveUpAt {
            // The worker still holds the slot (its thread may be stuck in a call), so the roster
            // keeps it until the RESULT; the job goes on without it.
            stopping[ref] = nil
            actions.append(.log(.warning, "a worker did not stop an overdue attempt; retrying the job anyway", [
                "job.id": "\(ref.jobID)", "job.attempt": "\(ref.attempt)", "grace.seconds": "\(settings.cancelGrace)"]))
            actions.append(.store(fail(ref, stop.errorClass, error: stop.reason, limit: limits.removeValue(forKey: ref))))
            wantClaim = true
        }
    }

    /// Tells workers to stop attempts whose shot list was cancelled.
    mutating func stopCancelled(_ jobs: Set<Int64>, now: Double, into actions: inout [Action]) {
        for member in roster.members.values.sorted(by: { $0.name < $1.name }) {
            for ref in member.running.sorted() where jobs.contains(ref.jobID) {
                clocks.stop(ref)
                sendCancel(ref, reason: "shot list cancelled", to: member.identity, now: now, into: &actions)
            }
        }
    }

    /// Applies operator drains (`keyfarm drain NAME`) to connected workers.
    mutating func applyDrains(_ states: [String: Bool], now: Double, into actions: inout [Action]) {
        for (name, draining) in states.sorted(by: { $0.key < $1.key }) {
            guard let member = roster.member(named: name) else { continue }
            if draining { drainedByOperator.insert(member.identity) } else { drainedByOperator.remove(member.identity) }
            updateDraining(member.identity)
            var body = DrainBody()
            body.draining = draining
            body.reason = draining ? "drained by an operator" : "undrained by an operator"
            send(.drain(body), to: member.identity, now: now, into: &actions)
            if roster.member(member.identity)?.draining == false { wantClaim = true }
        }
    }

    mutating func logsPruned(_ count: Int?, refusal: String?, now: Double, into actions: inout [Action]) {
        guard let count else {
            nextLogPrune = now + 3_600
            actions.append(.log(.warning, "cannot prune attempt logs; trying again in an hour", ["error": "\(refusal ?? "")"]))
            return
        }
        // A full batch means more are due: the next turn prunes another.
        nextLogPrune = count == settings.logPruneBatch ? now : now + 3_600
        if count > 0, let retention = settings.logRetention {
            actions.append(.log(.info, "pruned attempt logs past their retention", [
                "logs": "\(count)", "retention": "\(DurationText.format(retention))"]))
        }
    }
}
