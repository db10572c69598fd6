import Foundation
import KeyfarmCore
import KeyfarmDecisions
import KeyfarmWire
import Logging

extension Worker {
    /// Reads what the coordinator sent on the current connection; an ASSIGN goes to the session
    /// with whether this worker has an engine for it.
    func receiveFromCoordinator() throws {
        while let socket = dealer, let frames = try socket.receive(dontWait: true) {
            let message: WireMessage
            do {
                message = try WireMessage.decode(frames)
            } catch {
                try handle(.heard)
                logger.warning("dropped a malformed message from the coordinator", metadata: ["error": "\(error)"])
                continue
            }
            var runnable = true
            if case .assign(let body) = message { runnable = engine(for: job(body)) != nil }
            try handle(.received(message, runnable: runnable))
        }
    }

    /// The job an ASSIGN describes, as the engines take it.
    func job(_ body: AssignBody) -> AssignedJob {
        AssignedJob(ref: AttemptRef(jobID: body.jobID, attempt: Int(body.attempt)), key: body.jobKey, kind: body.kind,
                    engine: body.engine, spec: body.specJson, shotList: body.shotList, project: body.project,
                    resumeProviderRequestID: body.resumeProviderRequestID.isEmpty ? nil : body.resumeProviderRequestID,
                    storage: configuration.storage)
    }

    /// Starts an accepted attempt on a slot thread.
    func start(_ body: AssignBody, handBack: Bool) {
        let job = job(body)
        let control = JobControl()
        if handBack { control.requestHandBack() }
        controls[job.ref] = control
        pool.submit(SlotPool.Work(job: job, engine: engine(for: job), control: control,
                                  receivedAt: WireMessage.nowMicroseconds(), logger: logger))
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

    /// Hands the job threads' PROGRESS, SUBMITTED and RESULT to the session.
    func receiveFromEngines() throws {
        while let frames = try engineSocket.receive(dontWait: true) {
            guard let message = try? WireMessage.decode(frames) else { continue }
            if case .result(let body) = message { controls[AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))] = nil }
            try handle(.report(message))
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
