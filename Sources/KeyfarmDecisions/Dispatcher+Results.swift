import KeyfarmCore
import KeyfarmProtocol
import Logging

extension Dispatcher {
    /// Writes what the turn collected: ACCEPTED, PROGRESS and RESULT messages. Results are
    /// acknowledged once the database answers that they committed.
    mutating func flush(into actions: inout [Action]) {
        // An attempt whose result came in the same turn goes straight to its outcome.
        if !accepted.isEmpty && !results.isEmpty {
            let finished = Set(results.map { AttemptRef(jobID: $0.body.jobID, attempt: Int($0.body.attempt)) })
            accepted.removeAll { finished.contains($0.ref) }
        }
        if !accepted.isEmpty {
            for entry in accepted { changedJobs.insert(entry.ref.jobID) }
            actions.append(.store(.markRunning(accepted)))
            accepted.removeAll(keepingCapacity: true)
        }
        if !progress.isEmpty {
            for ref in progress.keys { changedJobs.insert(ref.jobID) }
            actions.append(.store(.recordProgress(progress.map { AttemptProgress(ref: $0.key, fraction: $0.value) }
                .sorted { $0.ref < $1.ref })))
            progress.removeAll(keepingCapacity: true)
        }
        guard !results.isEmpty else { return }
        let batch = results
        results.removeAll(keepingCapacity: true)
        let records = batch.map { record($0.body, from: $0.identity, into: &actions) }
        actions.append(.query(.recordResults(records)))
    }

    /// Decides how one RESULT is recorded. Repeats and results for attempts no longer current
    /// change nothing in the database, which knows which attempt owns each job.
    mutating func record(_ result: ResultBody, from identity: Identity, into actions: inout [Action]) -> ResultRecord {
        let ref = AttemptRef(jobID: result.jobID, attempt: Int(result.attempt))
        changedJobs.insert(ref.jobID)
        var commands: [StoreCommand] = []
        // Files the attempt uploaded serve every later job of the account, whatever became of this one.
        if !result.providerFiles.isEmpty, !result.provider.isEmpty {
            commands.append(.recordProviderFiles(provider: result.provider, files: result.providerFiles.map {
                ProviderFileRecord(sha256: $0.sha256, fileID: $0.fileID)
            }))
        }
        roster.finish(ref)
        let stop = stopping[ref]
        stopClocks(ref)
        let limit = limits.removeValue(forKey: ref)
        let charge: Charge? = result.credits > 0 || !result.providerRequestID.isEmpty
            ? Charge(provider: result.provider.isEmpty ? "unknown" : result.provider,
                     requestID: result.providerRequestID.isEmpty ? nil : result.providerRequestID, credits: result.credits)
            : nil
        switch result.outcome {
        case .succeeded:
            let artifact = result.artifacts.first
            commands.append(.completeSuccess(Success(
                ref: ref, artifactPath: artifact?.path, artifactSHA256: artifact?.sha256,
                artifactsJSON: Self.json(result.artifacts, storageRoot: storageRoots[identity]), charge: charge,
                receivedAtMicroseconds: result.receivedAtUnixUs, reusedFromAttemptID: result.reusedFromAttemptID)))
        case .handedBack where !result.reuseUnavailable.isEmpty:
            // The earlier generation the job was to reuse is gone or changed: render it after all.
            actions.append(.log(.notice, "reuse unavailable; the job renders", [
                "job.id": "\(ref.jobID)", "reason": "\(result.reuseUnavailable)"]))
            commands.append(.dropReuse(ref, reason: result.reuseUnavailable))
        case .handedBack:
            commands.append(.handBack(ref, providerRequestID: result.providerRequestID.isEmpty ? nil : result.providerRequestID,
                                      fresh: false))
        case .cancelled:
            if let stop {
                // Stopped for a timeout: a failure of that class, retried. Its request id stays
                // with the attempt for the next one to resume.
                if !result.providerRequestID.isEmpty {
                    commands.append(.recordProviderRequest(ref, provider: result.provider, requestID: result.providerRequestID))
                }
                commands.append(fail(ref, stop.errorClass, error: stop.reason, limit: limit,
                                     charge: result.credits > 0 ? charge : nil))
            } else {
                // A cancelled shot list's attempts are closed already, so this changes nothing;
                // an attempt still current was stopped by a coordinator that restarted before
                // its RESULT came: requeued like a lost one, never failed for good.
                commands.append(fail(ref, .lost, error: result.error.isEmpty ? "cancelled" : result.error, limit: limit,
                                     charge: charge))
            }
        case .failed where ProviderAccountFailure.suspendsAccount(result.providerFailureCode):
            // The provider refused for the account, not for this job (its budget is spent): no
            // more of its jobs go out until an operator resumes it, and this one waits, its
            // attempt not counted, for a new request then.
            commands.append(.suspendProvider(result.provider,
                                             reason: "\(result.provider) answered \(result.providerFailureCode): \(result.error)"))
            commands.append(.handBack(ref, providerRequestID: nil, fresh: true))
            actions.append(.log(.error, "provider account suspended; its jobs wait until `keyfarm providers resume \(result.provider)`",
                                ["provider": "\(result.provider)", "provider.failure_code": "\(result.providerFailureCode)"]))
        case .failed, .unspecified, .UNRECOGNIZED:
            if result.ambiguousCreate {
                // The provider may have made (and bill) a generation no one knows the id of.
                commands.append(.recordAmbiguousCreate(ref, provider: result.provider.isEmpty ? "unknown" : result.provider))
                actions.append(.log(.warning, "a create's answer was lost; its estimate is booked as possibly spent", [
                    "job.id": "\(ref.jobID)", "job.attempt": "\(ref.attempt)", "provider": "\(result.provider)"]))
            }
            let errorClass = ErrorClass(result.errorClass)
            commands.append(fail(ref, errorClass, error: result.error.isEmpty ? "failed (\(errorClass.rawValue))" : result.error,
                                 limit: limit, retryAfter: result.retryAfterS > 0 ? result.retryAfterS : nil, charge: charge))
        }
        return ResultRecord(identity: identity, ref: ref, commands: commands, logTail: result.logTail,
                            logLinesDropped: Int(result.logLinesDropped))
    }

    /// Acknowledges the results that committed; the rest are sent again by their workers.
    mutating func acknowledge(_ records: [ResultRecord], into actions: inout [Action]) {
        for record in records {
            var ack = ResultAckBody()
            ack.jobID = record.ref.jobID
            ack.attempt = UInt32(record.ref.attempt)
            actions.append(.send(.resultAck(ack), to: record.identity))
        }
        wantClaim = true
    }

    /// The failure of an attempt, with the retry policy's decision: when the job runs again, or
    /// never. An attempt without known limits counts as its job's last. Lost attempts are
    /// requeued at once (the store counts them against `RetryPolicy.maxLostAttempts`).
    mutating func fail(_ ref: AttemptRef, _ errorClass: ErrorClass, error: String, limit: AttemptLimit?,
                       retryAfter: Double? = nil, charge: Charge? = nil) -> StoreCommand {
        changedJobs.insert(ref.jobID)
        let draw = errorClass == .lost ? 0 : Double.random(in: 0..<1, using: &random)
        let decision = settings.retryPolicy.decide(errorClass, attempt: limit?.inRound ?? ref.attempt,
                                                   maxAttempts: limit?.max ?? ref.attempt, retryAfter: retryAfter,
                                                   random: draw)
        let delay: Double? = if case .retry(let after) = decision { after } else { nil }
        return .completeFailure(ref, errorClass, error: error, retryAfter: delay, charge: charge)
    }

    /// An attempt lost with its worker (gone, unreachable, reconnected without it, or never
    /// back after a restart): requeued at once.
    mutating func recordLoss(_ ref: AttemptRef, limit: AttemptLimit?, reason: String, into actions: inout [Action]) {
        roster.finish(ref)
        stopClocks(ref)
        limits[ref] = nil
        actions.append(.store(fail(ref, .lost, error: reason, limit: limit)))
        wantClaim = true
    }

    /// Marks every attempt a worker held as lost (the database says which) and records its state.
    mutating func lose(_ member: WorkerRoster.Member, reason: String, finalState: String, into actions: inout [Action]) {
        workerKeys[member.identity] = nil
        drainingItself.remove(member.identity)
        drainedByOperator.remove(member.identity)
        actions.append(.query(.leasesToLose(workerID: member.workerID, reason: reason, finalState: finalState)))
    }
}
