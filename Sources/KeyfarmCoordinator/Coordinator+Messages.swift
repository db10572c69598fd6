import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmWire
import Logging

extension Coordinator {
    /// Reads every waiting message (up to a batch) and handles or queues it.
    func receiveMessages() throws {
        for _ in 0..<configuration.receiveBatch {
            let received = security == nil ? try socket.receive(dontWait: true).map { (frames: $0, userID: String?.none) }
                                           : try socket.receiveWithUserID(dontWait: true)
            guard let (frames, workerKey) = received else { break }
            guard let identity = frames.first else { continue }
            let message: WireMessage
            do {
                message = try WireMessage.decode(frames.dropFirst())
            } catch {
                logger.warning("dropped a malformed message", metadata: [
                    "worker.identity": "\(WireMessage.describe(identity: identity))", "error": "\(error)"])
                continue
            }
            if case .hello(let hello) = message {
                if security != nil {
                    // Admitted by ZAP under a key that may have been removed since.
                    guard let workerKey, gate.name(ofAllowed: workerKey) != nil else {
                        refuseRemovedKey(identity: identity, worker: hello.name, key: workerKey)
                        continue
                    }
                    workerKeys[identity] = workerKey
                }
                try welcomeOrRefuse(identity: identity, hello: hello)
                continue
            }
            guard roster.heard(from: identity, now: now) else {
                // A worker we do not know (we restarted, or it was declared lost): it must say HELLO.
                if case .disconnect = message { continue }
                sendDisconnect(reason: DisconnectReason.unknownWorker, to: identity)
                if case .result(let result) = message { results.append((identity, result)) }
                continue
            }
            switch message {
            case .heartbeat(let beat):
                if beat.draining { roster.setDraining(identity, true) }
            case .accepted(let body):
                let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
                unconfirmedAssigns[ref] = nil
                accepted.append((ref, body.receivedAtUnixUs))
                clocks.heard(ref, now: now)
            case .progress(let body):
                let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
                progress[ref] = Double(body.fraction)
                clocks.heard(ref, now: now)
            case .submitted(let body):
                // Stored before the acknowledgement: the worker polls only once the id is safe.
                let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
                clocks.heard(ref, now: now)
                try store.recordProviderRequest(ref, provider: body.provider, requestID: body.requestID)
                var ack = SubmittedAckBody()
                ack.jobID = body.jobID
                ack.attempt = body.attempt
                send(.submittedAck(ack), to: identity)
            case .result(let body):
                results.append((identity, body))
            case .drain(let body):
                roster.setDraining(identity, body.draining)
                if let member = roster.member(identity) {
                    try store.setWorkerStates([(member.workerID, body.draining ? "draining" : "ready")])
                }
                logger.info("worker draining", metadata: ["worker.name": "\(roster.member(identity)?.name ?? "?")",
                                                          "draining": "\(body.draining)"])
            case .disconnect(let body):
                try flushBatches()
                if let member = roster.remove(identity) {
                    logger.info("worker said goodbye", metadata: ["worker.name": "\(member.name)", "reason": "\(body.reason)"])
                    try lose(member, reason: "worker disconnected", finalState: "offline")
                }
            case .hello, .welcome, .assign, .submittedAck, .resultAck, .cancel:
                logger.warning("dropped a message only a coordinator sends", metadata: [
                    "worker.identity": "\(WireMessage.describe(identity: identity))", "command": "\(message.command.rawValue)"])
            }
        }
    }

    /// `welcome`, except that a HELLO the database refuses (data it rejects, a missing privilege)
    /// turns that worker away instead of stopping the coordinator. Losing the database still throws.
    func welcomeOrRefuse(identity: [UInt8], hello: HelloBody) throws {
        do {
            try welcome(identity: identity, hello: hello)
        } catch let error as PostgresError where error.isStatementError {
            if let member = roster.remove(identity) {
                try? lose(member, reason: "its registration failed", finalState: "offline")
            }
            logger.error("refused a worker: the database did not accept its registration", metadata: [
                "worker.name": "\(hello.name)", "worker.identity": "\(WireMessage.describe(identity: identity))",
                "error": "\(error)"])
            var refusal = DisconnectBody()
            refusal.reason = "registration failed"
            _ = try? socket.send([identity] + WireMessage.disconnect(refusal).frames(), dontWait: true)
        }
    }

    /// Registers a worker, decides which of its running jobs it keeps, and answers WELCOME.
    func welcome(identity: [UInt8], hello: HelloBody) throws {
        guard !hello.name.isEmpty, hello.slots > 0, hello.slots <= 4096 else {
            logger.warning("dropped a HELLO without a name or with impossible slots", metadata: [
                "worker.identity": "\(WireMessage.describe(identity: identity))", "slots": "\(hello.slots)"])
            return
        }
        // The same name on another identity: a second live process is refused; a silent one
        // (the same machine after a restart) or the same instance reconnecting is replaced.
        if let previous = roster.member(named: hello.name), previous.identity != identity {
            if previous.instance != hello.instance && roster.isAlive(previous.identity, now: now) {
                logger.error("refused a worker: another live instance uses its name", metadata: [
                    "worker.name": "\(hello.name)", "worker.identity": "\(WireMessage.describe(identity: identity))"])
                var refusal = DisconnectBody()
                refusal.reason = DisconnectReason.nameInUse
                _ = try? socket.send([identity] + WireMessage.disconnect(refusal).frames(), dontWait: true)
                return
            }
            roster.remove(previous.identity)
        }
        let worker = try store.connectWorker(name: hello.name, host: hello.host, version: hello.version,
                                             engines: hello.engines, slots: Int(hello.slots), instance: hello.instance,
                                             storageRoot: hello.storageRoot.isEmpty ? nil : hello.storageRoot)
        storageRoots[identity] = hello.storageRoot.isEmpty ? nil : hello.storageRoot
        roster.join(identity: identity, workerID: worker.id, name: hello.name, instance: hello.instance, engines: hello.engines,
                    slots: Int(hello.slots), draining: worker.draining || hello.draining, now: now)
        unclaimedLeases[hello.name] = nil
        // The database says which attempts are this worker's; the worker says which it runs.
        let leases = try store.leases(workerID: worker.id)
        let reported = Dictionary(hello.running.map { (AttemptRef(jobID: $0.jobID, attempt: Int($0.attempt)), $0) },
                                  uniquingKeysWith: { first, _ in first })
        var reply = WelcomeBody()
        reply.workerID = worker.id
        reply.heartbeatIntervalMs = UInt32(configuration.heartbeatInterval * 1000)
        reply.liveness = UInt32(configuration.liveness)
        // Adopt what it runs; send again what this same process was assigned and has not
        // answered (its HELLO crossed the ASSIGN); lose the rest; abandon what is not its own.
        let decision = HelloReconciliation.decide(
            leased: leases.map(\.ref), reported: Set(reported.keys), stopping: Set(stopping.keys),
            unconfirmed: Set(unconfirmedAssigns.filter { $0.value.instance == hello.instance }.keys))
        var resend: [AssignBody] = []
        for lease in leases {
            if decision.resend.contains(lease.ref), let assign = unconfirmedAssigns[lease.ref] {
                roster.assign(lease.ref, to: identity)
                limits[lease.ref] = (lease.attemptInRound, lease.maxAttempts)
                var body = assign.body
                body.sentAtUnixUs = WireMessage.nowMicroseconds()
                resend.append(body)
                continue
            }
            if let running = reported[lease.ref], decision.adopt.contains(lease.ref) {
                roster.assign(lease.ref, to: identity)
                limits[lease.ref] = (lease.attemptInRound, lease.maxAttempts)
                // Its clocks start again: how long it ran before is not known here.
                startClocks(lease.ref, engine: lease.engine, kind: lease.kind)
                reply.adopted.append(running)
                if !running.providerRequestID.isEmpty {
                    // A submission whose acknowledgement the crash may have swallowed: store it, then ack.
                    try store.recordProviderRequest(lease.ref, provider: "", requestID: running.providerRequestID)
                    var ack = SubmittedAckBody()
                    ack.jobID = lease.ref.jobID
                    ack.attempt = UInt32(lease.ref.attempt)
                    pendingAcks.append((identity, .submittedAck(ack)))
                }
            } else if decision.lose.contains(lease.ref) {
                // Leased to it, but it does not run it (the ASSIGN was lost, or it restarted).
                try recordLoss(lease.ref, limit: (lease.attemptInRound, lease.maxAttempts),
                               reason: "worker \(hello.name) reconnected without it")
            }
        }
        for ref in decision.abandon { if let running = reported[ref] { reply.abandon.append(running) } }
        send(.welcome(reply), to: identity)
        for body in resend {
            logger.info("a HELLO crossed an ASSIGN; sending it again", metadata: [
                "worker.name": "\(hello.name)", "job.id": "\(body.jobID)", "job.attempt": "\(body.attempt)"])
            _ = send(.assign(body), to: identity)
        }
        for (target, message) in pendingAcks { send(message, to: target) }
        pendingAcks.removeAll()
        try store.setWorkerStates([(worker.id, worker.draining || hello.draining ? "draining" : "ready")])
        logger.info("worker joined", metadata: ["worker.name": "\(hello.name)", "worker.slots": "\(hello.slots)",
                                                 "adopted": "\(reply.adopted.count)", "abandoned": "\(reply.abandon.count)"])
        wantClaim = true
    }

    /// Writes what this turn collected: ACCEPTED, PROGRESS and RESULT messages, then acknowledges results.
    func flushBatches() throws {
        // An attempt whose result came in the same turn goes straight to its outcome.
        if !accepted.isEmpty && !results.isEmpty {
            let finished = Set(results.map { AttemptRef(jobID: $0.body.jobID, attempt: Int($0.body.attempt)) })
            accepted.removeAll { finished.contains($0.ref) }
        }
        if !accepted.isEmpty {
            for entry in accepted { changedJobs.insert(entry.ref.jobID) }
            try store.markRunning(accepted)
            accepted.removeAll(keepingCapacity: true)
        }
        if !progress.isEmpty {
            for ref in progress.keys { changedJobs.insert(ref.jobID) }
            try store.recordProgress(progress.map { ($0.key, $0.value) })
            progress.removeAll(keepingCapacity: true)
        }
        guard !results.isEmpty else { return }
        let batch = results
        results.removeAll(keepingCapacity: true)
        for entry in batch { changedJobs.insert(entry.body.jobID) }
        // One transaction (one WAL flush) for the whole turn's results; each result nests in a
        // savepoint. Acknowledgements go only after the commit.
        var recorded: [(identity: [UInt8], body: ResultBody)] = []
        // Successes that charged nothing (local work) go through one set-based statement.
        let isPlain = { (entry: (identity: [UInt8], body: ResultBody)) in
            entry.body.outcome == .succeeded && entry.body.credits == 0 && entry.body.providerRequestID.isEmpty
        }
        let plain = batch.filter(isPlain)
        let others = batch.filter { !isPlain($0) }
        do {
            try store.connection.transaction { _ in
                if !plain.isEmpty {
                    _ = try store.connection.transaction { _ in
                        try store.completeSuccesses(plain.map { entry in
                            let ref = AttemptRef(jobID: entry.body.jobID, attempt: Int(entry.body.attempt))
                            roster.finish(ref)
                            stopClocks(ref)
                            limits[ref] = nil
                            let artifact = entry.body.artifacts.first
                            return (ref, artifact?.path, artifact?.sha256,
                                    Self.json(entry.body.artifacts, storageRoot: storageRoots[entry.identity]),
                                    entry.body.receivedAtUnixUs, entry.body.reusedFromAttemptID)
                        })
                    }
                    recorded += plain
                }
                for entry in others {
                    do {
                        try record(entry.body, storageRoot: storageRoots[entry.identity])
                        recorded.append(entry)
                    } catch {
                        logger.error("cannot record a result; the worker will send it again", metadata: [
                            "job.id": "\(entry.body.jobID)", "job.attempt": "\(entry.body.attempt)", "error": "\(error)"])
                    }
                }
                recordLogs(of: recorded)
            }
        } catch {
            logger.error("cannot commit a batch of results; workers will send them again", metadata: ["error": "\(error)"])
            recorded = []
        }
        for (identity, result) in recorded {
            var ack = ResultAckBody()
            ack.jobID = result.jobID
            ack.attempt = result.attempt
            send(.resultAck(ack), to: identity)
        }
        wantClaim = true
    }

    /// Stores the log tails that came with recorded results. A tail that cannot be stored is
    /// logged and dropped: it must not cost the results their acknowledgement.
    private func recordLogs(of recorded: [(identity: [UInt8], body: ResultBody)]) {
        let logs = recorded.filter { !$0.body.logTail.isEmpty }.map { entry in
            (ref: AttemptRef(jobID: entry.body.jobID, attempt: Int(entry.body.attempt)), tail: entry.body.logTail,
             droppedLines: Int(entry.body.logLinesDropped))
        }
        guard !logs.isEmpty else { return }
        do {
            try store.connection.transaction { _ in try store.recordAttemptLogs(logs) }
        } catch {
            logger.warning("cannot store attempt logs; the results stand", metadata: [
                "attempts": "\(logs.count)", "error": "\(error)"])
        }
    }

    /// Records one RESULT; repeats and results for attempts no longer current change nothing.
    func record(_ result: ResultBody, storageRoot: String?) throws {
        let ref = AttemptRef(jobID: result.jobID, attempt: Int(result.attempt))
        // Files the attempt uploaded serve every later job of the account, whatever became of this one.
        if !result.providerFiles.isEmpty, !result.provider.isEmpty {
            try store.recordProviderFiles(provider: result.provider, result.providerFiles.map { ($0.sha256, $0.fileID) })
        }
        roster.finish(ref)
        let stop = stopping[ref]
        stopClocks(ref)
        let limit = limits.removeValue(forKey: ref)
        let charge: Charge? = result.credits > 0 || !result.providerRequestID.isEmpty
            ? Charge(provider: result.provider.isEmpty ? "unknown" : result.provider,
                     requestID: result.providerRequestID.isEmpty ? nil : result.providerRequestID, credits: result.credits)
            : nil
        let outcome: CompletionOutcome
        switch result.outcome {
        case .succeeded:
            let artifact = result.artifacts.first
            outcome = try store.completeSuccess(jobID: ref.jobID, attempt: ref.attempt, artifactPath: artifact?.path,
                                                artifactSHA256: artifact?.sha256, charge: charge,
                                                artifactsJSON: Self.json(result.artifacts, storageRoot: storageRoot))
        case .handedBack where !result.reuseUnavailable.isEmpty:
            // The earlier generation the job was to reuse is gone or changed: render it after all.
            logger.notice("reuse unavailable; the job renders", metadata: [
                "job.id": "\(ref.jobID)", "reason": "\(result.reuseUnavailable)"])
            outcome = try store.dropReuse(jobID: ref.jobID, attempt: ref.attempt, reason: result.reuseUnavailable)
        case .handedBack:
            outcome = try store.handBack(jobID: ref.jobID, attempt: ref.attempt,
                                         providerRequestID: result.providerRequestID.isEmpty ? nil : result.providerRequestID)
        case .cancelled:
            if let stop {
                // Stopped for a timeout: a failure of that class, retried. Its request id stays
                // with the attempt for the next one to resume.
                if !result.providerRequestID.isEmpty {
                    try store.recordProviderRequest(ref, provider: result.provider, requestID: result.providerRequestID)
                }
                outcome = try recordStopped(ref, stop, limit: limit, charge: result.credits > 0 ? charge : nil)
            } else {
                // A cancelled shot list's attempts are closed already, so this changes nothing;
                // an attempt still current was stopped by a coordinator that restarted before
                // its RESULT came: requeued like a lost one, never failed for good.
                outcome = try failAttempt(ref, .lost, error: result.error.isEmpty ? "cancelled" : result.error,
                                          limit: limit, random: 0, charge: charge)
            }
        case .failed where ProviderAccountFailure.suspendsAccount(result.providerFailureCode):
            // The provider refused for the account, not for this job (its budget is spent): no
            // more of its jobs go out until an operator resumes it, and this one waits, its
            // attempt not counted, for a new request then.
            let reason = "\(result.provider) answered \(result.providerFailureCode): \(result.error)"
            try store.suspendProvider(result.provider, reason: reason)
            logger.error("provider account suspended; its jobs wait until `keyfarm providers resume \(result.provider)`",
                         metadata: ["provider": "\(result.provider)", "provider.failure_code": "\(result.providerFailureCode)"])
            outcome = try store.handBack(jobID: ref.jobID, attempt: ref.attempt, providerRequestID: nil, fresh: true)
        case .failed, .unspecified, .UNRECOGNIZED:
            if result.ambiguousCreate {
                // The provider may have made (and bill) a generation no one knows the id of.
                try store.recordAmbiguousCreate(ref, provider: result.provider.isEmpty ? "unknown" : result.provider)
                logger.warning("a create's answer was lost; its estimate is booked as possibly spent", metadata: [
                    "job.id": "\(ref.jobID)", "job.attempt": "\(ref.attempt)", "provider": "\(result.provider)"])
            }
            let errorClass = ErrorClass(result.errorClass)
            outcome = try failAttempt(ref, errorClass, error: result.error.isEmpty ? "failed (\(errorClass.rawValue))" : result.error,
                                      limit: limit, retryAfter: result.retryAfterS > 0 ? result.retryAfterS : nil, charge: charge)
        }
        logger.debug("recorded result", metadata: ["job.id": "\(ref.jobID)", "job.attempt": "\(ref.attempt)",
                                                    "outcome": "\(outcome)"])
    }
}

extension Coordinator {
    /// Artifacts as the JSON array stored with a job and handed to its dependants as `inputs`.
    /// Each carries the reporting worker's storage root, so that an operator is told where a
    /// file really is (`v_outputs.storage_root`).
    static func json(_ artifacts: [ArtifactBody], storageRoot: String? = nil) -> String {
        let objects: [[String: Any]] = artifacts.map {
            var object: [String: Any] = ["path": $0.path, "sha256": $0.sha256, "bytes": $0.bytes, "media_type": $0.mediaType]
            if $0.frames > 0 { object["frames"] = $0.frames }
            if let storageRoot { object["storage_root"] = storageRoot }
            return object
        }
        guard let data = try? JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys]) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension ErrorClass {
    /// The error class a worker reported; an unset class counts as transient.
    init(_ wire: Keyfarm_Wire_V1_ErrorClass) {
        switch wire {
        case .rateLimited: self = .rateLimited
        case .providerFailed: self = .providerFailed
        case .invalid: self = .invalid
        case .lost: self = .lost
        case .timeout: self = .timeout
        case .transient, .unspecified, .UNRECOGNIZED: self = .transient
        }
    }
}
