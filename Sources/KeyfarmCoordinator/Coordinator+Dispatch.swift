import Foundation
import KeyfarmCore
import KeyfarmStore
import KeyfarmWire
import Logging

extension Coordinator {
    /// On start-up: every job the database says is leased waits one liveness window for its
    /// worker to come back and report it; the rest are then requeued as lost.
    func adoptLeasesFromDatabase() {
        do {
            let leases = try store.leases()
            unclaimedLeases = Dictionary(grouping: leases, by: \.workerName)
            adoptionDeadline = now + roster.deadAfter + 1
            if !leases.isEmpty {
                logger.info("waiting for workers to reclaim their jobs", metadata: [
                    "jobs": "\(leases.count)", "workers": "\(unclaimedLeases.count)", "seconds": "\(roster.deadAfter)"])
            }
        } catch {
            logger.error("cannot read leases", metadata: ["error": "\(error)"])
        }
    }

    /// Lost workers, and leases nobody came back for.
    func checkLiveness() throws {
        let current = now
        for member in roster.removeDead(now: current) {
            logger.warning("worker lost", metadata: ["worker.name": "\(member.name)",
                                                     "silent.seconds": "\(roster.deadAfter)", "jobs": "\(member.running.count)"])
            try lose(member, reason: "worker \(member.name) stopped answering", finalState: "lost")
        }
        if !unclaimedLeases.isEmpty && current >= adoptionDeadline {
            for lease in unclaimedLeases.values.joined() {
                try recordLoss(lease.ref, limit: (lease.attemptInRound, lease.maxAttempts),
                               reason: "worker \(lease.workerName) did not come back after a coordinator restart")
            }
            try store.setWorkerStates(Set(unclaimedLeases.values.joined().map(\.workerID)).map { ($0, "lost") })
            unclaimedLeases = [:]
        }
    }

    /// Marks every attempt a worker held as lost and requeues (or fails) its jobs.
    func lose(_ member: WorkerRoster.Member, reason: String, finalState: String) throws {
        for lease in try store.leases(workerID: member.workerID) {
            try recordLoss(lease.ref, limit: (lease.attemptInRound, lease.maxAttempts), reason: reason)
        }
        try store.setWorkerStates([(member.workerID, finalState)])
    }

    func recordLoss(_ ref: AttemptRef, limit: (inRound: Int, max: Int), reason: String) throws {
        roster.finish(ref)
        stopClocks(ref)
        limits[ref] = nil
        _ = try failAttempt(ref, .lost, error: reason, limit: limit, random: 0)
        wantClaim = true
    }

    /// Closes a failed attempt, letting the retry policy say whether and when its job runs
    /// again (an attempt without known limits counts as its job's last); watchers hear of it
    /// with the turn's NOTIFY.
    func failAttempt(_ ref: AttemptRef, _ errorClass: ErrorClass, error: String, limit: (inRound: Int, max: Int)?,
                     retryAfter: Double? = nil, random: Double = Double.random(in: 0..<1),
                     charge: Charge? = nil) throws -> CompletionOutcome {
        changedJobs.insert(ref.jobID)
        let decision = configuration.retryPolicy.decide(errorClass, attempt: limit?.inRound ?? ref.attempt,
                                                        maxAttempts: limit?.max ?? ref.attempt, retryAfter: retryAfter,
                                                        random: random)
        let delay: Double? = if case .retry(let after) = decision { after } else { nil }
        return try store.completeFailure(jobID: ref.jobID, attempt: ref.attempt, errorClass: errorClass, error: error,
                                         retryAfter: delay, charge: charge)
    }

    func sendHeartbeats() throws {
        for identity in roster.dueForHeartbeat(now: now) {
            send(.heartbeat(HeartbeatBody()), to: identity)
        }
    }

    func renewLeases() throws {
        guard now >= nextLeaseRenewal else { return }
        nextLeaseRenewal = now + configuration.leaseSeconds / 3
        try store.renewLeases(workerIDs: roster.members.values.map(\.workerID), seconds: configuration.leaseSeconds)
    }

    /// Tells a worker to stop an attempt (CANCEL); its RESULT, if it can still send one, ends it.
    func sendCancel(_ ref: AttemptRef, reason: String, to identity: [UInt8]) {
        var body = CancelBody()
        body.jobID = ref.jobID
        body.attempt = UInt32(ref.attempt)
        body.reason = reason
        send(.cancel(body), to: identity)
    }

    /// Tells a worker why the coordinator will not (or no longer) serve its connection.
    func sendDisconnect(reason: String, to identity: [UInt8]) {
        var body = DisconnectBody()
        body.reason = reason
        send(.disconnect(body), to: identity)
    }

    /// Tells workers to stop attempts whose shot list was cancelled.
    func handleCancellations() throws {
        guard !cancelledLists.isEmpty else { return }
        let lists = cancelledLists
        cancelledLists.removeAll()
        for list in lists {
            let cancelled = try store.cancelledJobIDs(shotListID: list)
            for member in roster.members.values {
                for ref in member.running where cancelled.contains(ref.jobID) {
                    clocks.stop(ref)
                    sendCancel(ref, reason: "shot list cancelled", to: member.identity)
                }
            }
        }
    }

    /// Applies operator drains (`keyfarm drain NAME`) to connected workers.
    func handleDrainChanges() throws {
        guard !drainChanges.isEmpty else { return }
        let names = drainChanges
        drainChanges.removeAll()
        for name in Set(names) {
            guard let member = roster.member(named: name) else { continue }
            let draining = try store.isDraining(workerName: name)
            roster.setDraining(member.identity, draining)
            var body = DrainBody()
            body.draining = draining
            body.reason = draining ? "drained by an operator" : "undrained by an operator"
            send(.drain(body), to: member.identity)
            if !draining { wantClaim = true }
        }
    }

    /// Claims ready jobs for workers with free slots (all claims of a turn in one transaction)
    /// and, once that commits, sends them ASSIGN.
    func dispatch() throws {
        let current = now
        guard roster.totalFreeSlots > 0, wantClaim || current >= nextClaim else { return }
        wantClaim = false
        nextClaim = current + configuration.claimPollInterval
        // One claim per set of workers offering the same capabilities, slots interleaved.
        let groups = Dictionary(grouping: roster.withFreeSlots, by: { $0.engines.sorted() })
        var claimed: [(member: WorkerRoster.Member, job: ClaimedJob)] = []
        try store.connection.transaction { _ in
            for (engines, members) in groups.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                var slots: [Int64] = []
                for round in 0..<(members.map(\.freeSlots).max() ?? 0) {
                    for member in members where member.freeSlots > round { slots.append(member.workerID) }
                }
                let byID = Dictionary(uniqueKeysWithValues: members.map { ($0.workerID, $0) })
                let jobs = try store.claim(slots: slots, capabilities: engines, leaseSeconds: configuration.leaseSeconds)
                if jobs.count == slots.count { wantClaim = true }
                for (workerID, job) in jobs { if let member = byID[workerID] { claimed.append((member, job)) } }
            }
        }
        for (member, job) in claimed {
            changedJobs.insert(job.jobID)
            do {
                let ref = AttemptRef(jobID: job.jobID, attempt: job.attempt)
                roster.assign(ref, to: member.identity)
                limits[ref] = (job.attemptInRound, job.maxAttempts)
                startClocks(ref, engine: job.engine, kind: job.kind)
                var body = AssignBody()
                body.jobID = job.jobID
                body.attempt = UInt32(job.attempt)
                body.jobKey = job.key
                body.kind = job.kind
                body.engine = job.engine ?? ""
                body.specJson = job.spec
                body.shotList = job.shotList
                body.project = job.project
                body.resumeProviderRequestID = job.resumeProviderRequestID ?? ""
                body.sentAtUnixUs = WireMessage.nowMicroseconds()
                unconfirmedAssigns[ref] = (body, member.instance)
                if !send(.assign(body), to: member.identity,
                         assigned: (ref, job.attemptInRound, job.maxAttempts, member.name)) {
                    try recordLoss(ref, limit: (job.attemptInRound, job.maxAttempts),
                                   reason: "worker \(member.name) unreachable when assigning")
                }
            }
        }
    }
}
