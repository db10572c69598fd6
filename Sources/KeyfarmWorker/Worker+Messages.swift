import Foundation
import KeyfarmCore
import KeyfarmWire
import Logging

extension Worker {
    func receiveFromCoordinator() throws {
        while let socket = dealer, let frames = try socket.receive(dontWait: true) {
            lastHeard = now
            let message: WireMessage
            do {
                message = try WireMessage.decode(frames)
            } catch {
                logger.warning("dropped a malformed message from the coordinator", metadata: ["error": "\(error)"])
                continue
            }
            switch message {
            case .welcome(let body): welcome(body)
            case .assign(let body): try start(body)
            case .cancel(let body):
                let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
                if let entry = running[ref] {
                    entry.control.cancel()
                } else if unacknowledged[ref] == nil {
                    // Not ours (any more): every accepted ASSIGN ends in one RESULT, so answer it.
                    var result = ResultBody()
                    result.jobID = body.jobID
                    result.attempt = body.attempt
                    result.outcome = .cancelled
                    result.error = "not running on this worker"
                    send(.result(result))
                }
            case .resultAck(let body):
                unacknowledged[AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))] = nil
            case .submittedAck(let body):
                running[AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))]?.control.acknowledgeSubmission()
            case .drain(let body):
                drainedByOperator = body.draining
                logger.info(body.draining ? "drained by the coordinator" : "undrained", metadata: ["reason": "\(body.reason)"])
                notifier.status(body.draining ? "drained: \(body.reason)" : "ready")
            case .disconnect(let body):
                if body.reason == DisconnectReason.nameInUse {
                    logger.error("another live worker uses the name \(configuration.name); retrying after the back-off")
                    dropConnection(reason: "coordinator: name in use")
                } else if body.reason == DisconnectReason.keyRemoved {
                    let key = configuration.curve.map { " \($0.secretKey.publicKey)" } ?? ""
                    logger.error("""
                        the coordinator removed this worker's key\(key) from its allow-list: no jobs until \
                        `keyfarm keys add` allows it again; retrying after the back-off
                        """)
                    dropConnection(reason: "coordinator: worker key removed")
                } else if body.reason == DisconnectReason.unknownWorker && !welcomed {
                    // This connection's HELLO is not answered yet: the coordinator answers
                    // something sent before it (a heartbeat libzmq queued while it was away).
                    // The WELCOME will come; reconnecting now would only cross it.
                    logger.debug("ignored \"unknown worker\" while this connection's HELLO is unanswered")
                    continue
                } else {
                    dropConnection(reason: "coordinator: \(body.reason)", immediately: true)
                }
                return
            case .heartbeat:
                break
            case .hello, .accepted, .progress, .submitted, .result:
                logger.warning("dropped a message only a worker sends", metadata: ["command": "\(message.command.rawValue)"])
            }
        }
    }

    private func welcome(_ body: WelcomeBody) {
        welcomed = true
        refusalLogged = false
        reconnectDelay = configuration.reconnectMinimum
        if body.heartbeatIntervalMs > 0 { heartbeatInterval = Double(body.heartbeatIntervalMs) / 1000 }
        if body.liveness > 0 { liveness = Int(body.liveness) }
        // An adopted attempt's provider request id is stored: the WELCOME stands for its SUBMITTED_ACK.
        for job in body.adopted where !job.providerRequestID.isEmpty {
            running[AttemptRef(jobID: job.jobID, attempt: Int(job.attempt))]?.control.acknowledgeSubmission()
        }
        // Abandoned attempts stop; their RESULT still goes (as CANCELLED) so any credits are booked.
        for job in body.abandon {
            let ref = AttemptRef(jobID: job.jobID, attempt: Int(job.attempt))
            running[ref]?.control.cancel()
            running[ref]?.abandoned = true
        }
        // Results the coordinator may not have recorded: send them again; repeats are harmless.
        resendUnacknowledged()
        if everWelcomed {
            notifier.status("connected to \(configuration.connect)")
        } else {
            everWelcomed = true
            notifier.ready(status: "connected to \(configuration.connect), \(configuration.slots) slot(s)")
        }
        logger.info("connected", metadata: ["endpoint": "\(configuration.connect)",
                                            "adopted": "\(body.adopted.count)", "abandoned": "\(body.abandon.count)"])
    }

    /// Starts an assigned attempt on its own thread, or hands it straight back when it cannot run it.
    private func start(_ body: AssignBody) throws {
        let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
        let receivedAt = WireMessage.nowMicroseconds()
        // An ASSIGN for an attempt it already holds never starts a second run.
        if running[ref] != nil {
            var again = AcceptedBody()
            again.jobID = body.jobID
            again.attempt = body.attempt
            again.receivedAtUnixUs = receivedAt
            send(.accepted(again))
            return
        }
        if let pending = unacknowledged[ref] {
            send(.result(pending))
            return
        }
        guard freeSlots > 0 else {
            var result = ResultBody()
            result.jobID = body.jobID
            result.attempt = body.attempt
            result.outcome = .handedBack
            result.providerRequestID = body.resumeProviderRequestID
            result.receivedAtUnixUs = receivedAt
            unacknowledged[ref] = result
            send(.result(result))
            return
        }
        let job = AssignedJob(ref: ref, key: body.jobKey, kind: body.kind, engine: body.engine, spec: body.specJson,
                              shotList: body.shotList, project: body.project,
                              resumeProviderRequestID: body.resumeProviderRequestID.isEmpty ? nil : body.resumeProviderRequestID,
                              storage: configuration.storage)
        guard let engine = engine(for: job) else {
            // A worker offering a capability it cannot render is misconfigured: failing (transient)
            // sends the job elsewhere and soon blocklists this worker for the shot.
            var result = ResultBody()
            result.jobID = body.jobID
            result.attempt = body.attempt
            result.outcome = .failed
            result.errorClass = .transient
            result.error = "worker \(configuration.name) has no engine for \(body.kind) \(body.engine)"
            result.receivedAtUnixUs = receivedAt
            unacknowledged[ref] = result
            send(.result(result))
            return
        }
        let control = JobControl()
        if stopping { control.requestHandBack() }
        running[ref] = Running(job: job, control: control, providerRequestID: body.resumeProviderRequestID)
        var accepted = AcceptedBody()
        accepted.jobID = body.jobID
        accepted.attempt = body.attempt
        accepted.receivedAtUnixUs = receivedAt
        send(.accepted(accepted))
        pool.submit(SlotPool.Work(job: job, engine: engine, control: control, receivedAt: receivedAt, logger: logger))
    }

    private func engine(for job: AssignedJob) -> (any JobEngine)? {
        // A job an earlier generation stands in for only checks that generation's artifacts.
        if job.namesReuse { return ReuseEngine() }
        switch job.kind {
        case "smoke": return engines["smoke"]
        case "stitch": return engines["stitch"]
        default:
            if let exact = engines[job.engine] { return exact }
            let provider = job.engine.split(separator: "/").first.map { "\($0)/*" } ?? ""
            return engines[provider]
        }
    }

    func receiveFromEngines() throws {
        while let frames = try engineSocket.receive(dontWait: true) {
            guard let message = try? WireMessage.decode(frames) else { continue }
            switch message {
            case .progress(let body):
                let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
                guard running[ref]?.abandoned == false else { continue }
                running[ref]?.progress = Double(body.fraction)
                if welcomed { send(message) }
            case .submitted(let body):
                let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
                running[ref]?.providerRequestID = body.requestID
                if welcomed { send(message) }
            case .result(var body):
                let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
                let entry = running.removeValue(forKey: ref)
                if entry?.abandoned == true && body.outcome != .succeeded { body.outcome = .cancelled }
                if body.providerRequestID.isEmpty, let id = entry?.providerRequestID { body.providerRequestID = id }
                // A stopped attempt's RESULT names the provider of the request it carries.
                if body.provider.isEmpty, !body.providerRequestID.isEmpty, let engine = entry?.job.engine,
                   let slash = engine.firstIndex(of: "/") {
                    body.provider = String(engine[..<slash])
                }
                unacknowledged[ref] = body
                if welcomed {
                    send(.result(body))
                    if nextResend == .infinity { nextResend = now + heartbeatInterval * Double(liveness) }
                }
                if stopping { notifier.status("draining: \(running.count) job(s) running") }
            default:
                break
            }
        }
    }
}

/// What a slot thread does with one job: run the engine, report the result over its inproc socket.
enum JobThread {
    static func run(_ work: SlotPool.Work, socket: ZMQSocket) {
        let job = work.job, engine = work.engine, control = work.control, receivedAt = work.receivedAt
        let context = JobContext(job: job, control: control, logger: work.logger, socket: socket)
        let outcome: JobOutcome
        if let engine {
            outcome = engine.run(job, context: context)
        } else {
            outcome = .failed(.invalid, "this worker has no engine for \(job.kind) \(job.engine)")
        }
        switch outcome {
        case .succeeded: context.logger.debug("attempt succeeded")
        case .failed(let errorClass, let message, _, _, _, _, _):
            context.logger.notice("attempt failed: \(message)", metadata: ["error.class": "\(errorClass.rawValue)"])
        case .cancelled: context.logger.info("attempt cancelled")
        case .handedBack: context.logger.info("attempt handed back unfinished")
        case .reused: break
        case .createAmbiguous(let message, _): context.logger.warning("attempt failed with a create that may have been made: \(message)")
        case .reuseUnavailable(let reason): context.logger.notice("cannot reuse: \(reason); the job goes back to render")
        }
        var result = ResultBody()
        result.jobID = job.ref.jobID
        result.attempt = UInt32(job.ref.attempt)
        result.receivedAtUnixUs = receivedAt
        switch outcome {
        case .succeeded(let artifacts, let credits, let provider, let requestID):
            result.outcome = .succeeded
            result.artifacts = artifacts
            result.credits = credits
            result.provider = provider
            result.providerRequestID = requestID
        case .failed(let errorClass, let message, let retryAfter, let credits, let provider, let requestID, let code):
            result.outcome = .failed
            result.providerFailureCode = code
            result.errorClass = errorClass.wire
            result.error = message
            result.retryAfterS = retryAfter ?? 0
            result.credits = credits
            result.provider = provider
            result.providerRequestID = requestID
        case .cancelled:
            result.outcome = .cancelled
            result.error = "cancelled by the coordinator"
        case .handedBack(let requestID):
            result.outcome = .handedBack
            result.providerRequestID = requestID
        case .reused(let artifacts, let sourceAttemptID):
            result.outcome = .succeeded
            result.artifacts = artifacts
            result.reusedFromAttemptID = sourceAttemptID
        case .reuseUnavailable(let reason):
            result.outcome = .handedBack
            result.reuseUnavailable = reason
        case .createAmbiguous(let message, let provider):
            result.outcome = .failed
            result.errorClass = .transient
            result.error = message
            result.provider = provider
            result.ambiguousCreate = true
        }
        result.providerFiles = context.providerFiles.map { file in
            var body = Keyfarm_Wire_V1_ProviderFile()
            body.sha256 = file.sha256
            body.fileID = file.fileID
            return body
        }
        let tail = context.log.tail
        result.logTail = tail.text
        result.logLinesDropped = UInt32(clamping: tail.droppedLines)
        _ = try? socket.send(WireMessage.result(result).frames())
    }
}

extension ErrorClass {
    var wire: Keyfarm_Wire_V1_ErrorClass {
        switch self {
        case .transient: .transient
        case .rateLimited: .rateLimited
        case .providerFailed: .providerFailed
        case .invalid: .invalid
        case .lost: .lost
        case .timeout: .timeout
        case .cancelled, .stalled: .transient
        }
    }
}
