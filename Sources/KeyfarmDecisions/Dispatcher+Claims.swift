import KeyfarmCore
import KeyfarmProtocol
import Logging

extension Dispatcher {
    /// Asks for ready jobs for the free slots, one claim per set of workers offering the same
    /// capabilities with their slots interleaved, when a NOTIFY or a result made it worth it or
    /// the poll interval passed (retry back-offs expiring).
    mutating func claim(now: Double, into actions: inout [Action]) {
        guard roster.totalFreeSlots > 0, wantClaim || now >= nextClaim else { return }
        wantClaim = false
        nextClaim = now + settings.claimPollInterval
        actions.append(.query(.claim(claimGroups(), leaseSeconds: settings.leaseSeconds)))
    }

    /// The free slots to claim for, grouped by capabilities, interleaved across workers (fewest
    /// running first, then by worker id); kept while no worker joined, left or changed its free slots, so that an
    /// idle farm of thousands of workers does not sort them on every claim poll.
    mutating func claimGroups() -> [ClaimGroup] {
        if let cached = cachedClaimGroups, cached.version == roster.slotsVersion { return cached.groups }
        var claims: [ClaimGroup] = []
        // At most `claimBatch` slots in all: one turn's claim, ASSIGNs and commit stay short
        // however many workers wait, and a full claim asks again on the next turn.
        var budget = settings.claimBatch
        for (engines, workers) in roster.freeSlotsByCapabilities where budget > 0 {
            var slots: [Int64] = []
            rounds: for round in 0..<(workers.map(\.free).max() ?? 0) {
                for worker in workers where worker.free > round {
                    guard slots.count < budget else { break rounds }
                    slots.append(worker.workerID)
                }
            }
            budget -= slots.count
            claims.append(ClaimGroup(capabilities: engines, slots: slots))
        }
        cachedClaimGroups = (roster.slotsVersion, claims)
        return claims
    }

    /// Sends ASSIGN for what the claim leased; the reactor holds them until the turn commits.
    mutating func assign(_ answers: [ClaimAnswer], now: Double, into actions: inout [Action]) {
        for answer in answers {
            // Every slot filled: more may be ready.
            if answer.jobs.count == answer.requested { wantClaim = true }
            for (workerID, job) in answer.jobs {
                guard let member = roster.member(workerID: workerID) else { continue }
                changedJobs.insert(job.jobID)
                let ref = AttemptRef(jobID: job.jobID, attempt: job.attempt)
                roster.assign(ref, to: member.identity)
                limits[ref] = AttemptLimit(inRound: job.attemptInRound, max: job.maxAttempts)
                startClocks(ref, engine: job.engine, kind: job.kind, now: now)
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
                roster.sent(to: member.identity, now: now)
                actions.append(.assign(body, to: member.identity))
            }
        }
    }

    /// An ASSIGN that cannot reach its worker is a lost attempt, and the worker leaves the
    /// roster: its connection is gone (killed, or reconnecting under a new routing id), and
    /// until it says HELLO again every job claimed for it would be lost the same way.
    mutating func unreachable(_ identity: Identity, _ ref: AttemptRef, into actions: inout [Action]) {
        let name = roster.member(identity)?.name ?? "?"
        recordLoss(ref, limit: limits[ref], reason: "worker \(name) unreachable when assigning", into: &actions)
        if let member = roster.remove(identity) {
            actions.append(.log(.warning, "worker unreachable: no more jobs for it until it says HELLO again",
                                ["worker.name": "\(member.name)"]))
            lose(member, reason: "worker \(member.name) unreachable", finalState: "lost", into: &actions)
        }
    }

    /// Starts the clocks of an attempt a worker now holds.
    mutating func startClocks(_ ref: AttemptRef, engine: String?, kind: String, now: Double) {
        clocks.start(ref, limit: settings.timeouts.limit(engine: engine, kind: kind), now: now)
    }

    /// Forgets an attempt's clocks, any stop in progress and its unanswered ASSIGN (its outcome
    /// is being recorded).
    mutating func stopClocks(_ ref: AttemptRef) {
        clocks.stop(ref)
        stopping[ref] = nil
        unconfirmedAssigns[ref] = nil
    }
}
