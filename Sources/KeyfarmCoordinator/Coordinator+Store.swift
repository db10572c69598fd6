import KeyfarmCore
import KeyfarmDecisions
import KeyfarmPostgres
import KeyfarmStore
import Logging

/// The dispatcher's writes and questions, carried out with the store.
extension Coordinator {
    func execute(_ command: StoreCommand) throws {
        switch command {
        case .markRunning(let accepted):
            try store.markRunning(accepted.map { ($0.ref, $0.receivedAtMicroseconds) })
        case .recordProgress(let updates):
            try store.recordProgress(updates.map { ($0.ref, $0.fraction) })
        case .recordProviderRequest(let ref, let provider, let requestID):
            try store.recordProviderRequest(ref, provider: provider, requestID: requestID)
        case .recordProviderFiles(let provider, let files):
            try store.recordProviderFiles(provider: provider, files.map { ($0.sha256, $0.fileID) })
        case .completeSuccess(let success):
            try log(success.ref, store.completeSuccess(jobID: success.ref.jobID, attempt: success.ref.attempt,
                                                       artifactPath: success.artifactPath, artifactSHA256: success.artifactSHA256,
                                                       charge: success.charge, artifactsJSON: success.artifactsJSON))
        case .dropReuse(let ref, let reason):
            try log(ref, store.dropReuse(jobID: ref.jobID, attempt: ref.attempt, reason: reason))
        case .handBack(let ref, let providerRequestID, let fresh):
            try log(ref, store.handBack(jobID: ref.jobID, attempt: ref.attempt, providerRequestID: providerRequestID, fresh: fresh))
        case .suspendProvider(let provider, let reason):
            try store.suspendProvider(provider, reason: reason)
        case .recordAmbiguousCreate(let ref, let provider):
            try store.recordAmbiguousCreate(ref, provider: provider)
        case .completeFailure(let ref, let errorClass, let error, let retryAfter, let charge):
            try log(ref, store.completeFailure(jobID: ref.jobID, attempt: ref.attempt, errorClass: errorClass, error: error,
                                               retryAfter: retryAfter, charge: charge))
        case .setWorkerStates(let states):
            try store.setWorkerStates(states.map { ($0.workerID, $0.state) })
        case .renewLeases(let workerIDs, let seconds):
            try store.renewLeases(workerIDs: workerIDs, seconds: seconds)
        case .announce(let jobIDs):
            try store.announceProgress(jobIDs: jobIDs)
        }
    }

    private func log(_ ref: AttemptRef, _ outcome: CompletionOutcome) {
        logger.debug("recorded an outcome", metadata: ["job.id": "\(ref.jobID)", "job.attempt": "\(ref.attempt)",
                                                        "outcome": "\(outcome)"])
    }

    /// Asks the database and returns its answer as the event the dispatcher waits for.
    func answer(_ query: Query) throws -> Dispatcher.Event {
        switch query {
        case .register(let identity, let hello):
            do {
                // In a transaction, so that a leader's fence checks it.
                let worker = try store.connection.transaction { _ in try store.connectWorker(name: hello.name, host: hello.host, version: hello.version,
                                                     engines: hello.engines, slots: Int(hello.slots), instance: hello.instance,
                                                     storageRoot: hello.storageRoot.isEmpty ? nil : hello.storageRoot) }
                let leases = try store.leases(workerID: worker.id)
                return .registered(identity, hello, workerID: worker.id, drainedByOperator: worker.draining, leases: leases)
            } catch let error as PostgresError where error.isStatementError {
                return .registrationFailed(identity, hello, error: "\(error)")
            }
        case .leasesToLose(let workerID, let reason, let finalState):
            return .leasesToLose(try store.leases(workerID: workerID), workerID: workerID, reason: reason, finalState: finalState)
        case .drainStates(let names):
            var states: [String: Bool] = [:]
            for name in names { states[name] = try store.isDraining(workerName: name) }
            return .drainStates(states)
        case .cancelledJobs(let shotListID):
            return .cancelledJobs(try store.cancelledJobIDs(shotListID: shotListID))
        case .workerKeys:
            return .keysLoaded(try store.workerKeys().map { ($0.name, $0.publicKey) })
        case .claim(let groups, let leaseSeconds):
            var answers: [ClaimAnswer] = []
            try store.connection.transaction { _ in
                for group in groups {
                    let jobs = try store.claim(slots: group.slots, capabilities: group.capabilities, leaseSeconds: leaseSeconds)
                    answers.append(ClaimAnswer(jobs: jobs, requested: group.slots.count))
                }
            }
            return .claimed(answers)
        case .recordResults(let records):
            return .resultsRecorded(try record(records))
        case .pruneLogs(let olderThan, let limit):
            do {
                return .logsPruned(try store.connection.transaction { _ in
                    try store.pruneAttemptLogs(olderThan: olderThan, limit: limit)
                }, refusal: nil)
            } catch let error as PostgresError where error.isStatementError {
                return .logsPruned(nil, refusal: "\(error)")
            }
        }
    }

    /// Records a turn's results in one transaction (one WAL flush), each in a savepoint, and
    /// returns those that committed. Successes that charged nothing (local work, reuse) go
    /// through one set-based statement.
    private func record(_ records: [ResultRecord]) throws -> [ResultRecord] {
        var recorded: [ResultRecord] = []
        let plain = records.compactMap { record in record.plainSuccess.map { (record, $0) } }
        let others = records.filter { $0.plainSuccess == nil }
        do {
            try store.connection.transaction { _ in
                if !plain.isEmpty {
                    _ = try store.connection.transaction { _ in
                        try store.completeSuccesses(plain.map { _, success in
                            (success.ref, success.artifactPath, success.artifactSHA256, success.artifactsJSON,
                             success.receivedAtMicroseconds, success.reusedFromAttemptID)
                        })
                    }
                    recorded += plain.map(\.0)
                }
                for record in others {
                    do {
                        try store.connection.transaction { _ in
                            for command in record.commands { try execute(command) }
                        }
                        recorded.append(record)
                    } catch let error as PostgresError where store.connection.isOpen {
                        logger.error("cannot record a result; the worker will send it again", metadata: [
                            "job.id": "\(record.ref.jobID)", "job.attempt": "\(record.ref.attempt)", "error": "\(error)"])
                    }
                }
                recordLogs(of: recorded)
            }
        } catch let lost as LeadershipLost {
            throw lost
        } catch {
            logger.error("cannot commit a batch of results; workers will send them again", metadata: ["error": "\(error)"])
            recorded = []
        }
        return recorded
    }

    /// Stores the log tails that came with recorded results. A tail that cannot be stored is
    /// logged and dropped: it must not cost the results their acknowledgement.
    private func recordLogs(of recorded: [ResultRecord]) {
        let logs = recorded.filter { !$0.logTail.isEmpty }.map { ($0.ref, $0.logTail, $0.logLinesDropped) }
        guard !logs.isEmpty else { return }
        do {
            try store.connection.transaction { _ in try store.recordAttemptLogs(logs) }
        } catch {
            logger.warning("cannot store attempt logs; the results stand", metadata: [
                "attempts": "\(logs.count)", "error": "\(error)"])
        }
    }
}
