import Foundation
import KeyfarmCore
import KeyfarmWire
import Logging
import Synchronization

/// Something that renders one kind of job on a worker: the smoke engine now; providers,
/// interpolation and the stitcher later. It runs on a thread of its own.
public protocol JobEngine: Sendable {
    func run(_ job: AssignedJob, context: JobContext) -> JobOutcome
}

/// A job as an engine sees it: what ASSIGN said.
public struct AssignedJob: Sendable {
    public var ref: AttemptRef
    public var key: String
    public var kind: String
    public var engine: String
    /// The job's spec, as JSON: each engine decodes its kind (`SegmentSpec`, `StitchSpec`,
    /// `SmokeSpec`; see proto/PROTOCOL.md).
    public var spec: String
    public var shotList: String
    public var project: String
    public var resumeProviderRequestID: String?
    /// The root of the farm's shared storage.
    public var storage: String

    /// Whether the spec names an earlier generation to stand in (`reuse`). One that cannot be
    /// read counts too: the reuse engine hands the job back, saying what is wrong with it.
    public var namesReuse: Bool {
        // Most specs name none: the decoding is left to those that might.
        guard spec.contains("\"reuse\":") else { return false }
        do {
            return try JobSpec.reuse(in: spec) != nil
        } catch {
            return true
        }
    }
}

/// How an attempt ended, as the engine reports it.
public enum JobOutcome: Sendable {
    case succeeded(artifacts: [ArtifactBody] = [], credits: Int64 = 0, provider: String = "", providerRequestID: String = "")
    /// `providerFailureCode`: the provider's own code for a failed generation (Luma Agents'
    /// `failure_code`), which the coordinator reads for codes about the account.
    case failed(ErrorClass, String, retryAfter: Double? = nil, credits: Int64 = 0, provider: String = "",
                providerRequestID: String = "", providerFailureCode: String = "")
    case cancelled
    /// Given back unfinished (the worker is draining), with the provider request to resume.
    case handedBack(providerRequestID: String)
    /// An earlier generation's artifacts, found intact, stand in for this job's (`ReuseEngine`).
    case reused(artifacts: [ArtifactBody], sourceAttemptID: Int64)
    /// The earlier generation the spec names cannot stand in (the reason says why): the job
    /// goes back to be rendered.
    case reuseUnavailable(String)
    /// A create was sent and its answer lost, and the API cannot say whether it made a
    /// generation: failed (transient), and the credits it may have cost are booked as
    /// `ambiguous` in the ledger.
    case createAmbiguous(String, provider: String)
}

/// Flags the reactor sets and an engine thread reads: cancellation, draining, a submission's acknowledgement.
public final class JobControl: Sendable {
    private let cancelled = Atomic<Bool>(false)
    private let handBack = Atomic<Bool>(false)
    private let submissionAcknowledged = Atomic<Bool>(false)

    public init() {}

    public var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
    public func cancel() { cancelled.store(true, ordering: .releasing) }
    /// Set when the worker drains: long jobs may hand themselves back instead of finishing.
    public var shouldHandBack: Bool { handBack.load(ordering: .acquiring) }
    public func requestHandBack() { handBack.store(true, ordering: .releasing) }
    public var isSubmissionAcknowledged: Bool { submissionAcknowledged.load(ordering: .acquiring) }
    public func acknowledgeSubmission() { submissionAcknowledged.store(true, ordering: .releasing) }
}

/// What an engine may do while it runs: report progress, register a provider submission,
/// log, and check whether it should stop. Used only by the job's own thread.
public final class JobContext {
    let job: AssignedJob
    public let control: JobControl
    /// The attempt's logger: its lines go to the worker's log (at the worker's level) and into
    /// the attempt's log tail, which travels with the RESULT to `keyfarm logs`.
    public let logger: Logger
    /// The attempt's log tail.
    public let log: AttemptLog
    /// Where PROGRESS and SUBMITTED go: the job thread's inproc socket, or a test's closure.
    private let deliver: (WireMessage) -> Void
    private var lastProgress = ContinuousClock.now - .seconds(1)
    /// Keyframe images this attempt uploaded to its provider (content hash, file id), reported
    /// with the RESULT whatever its outcome.
    public private(set) var providerFiles: [(sha256: String, fileID: String)] = []

    /// Notes an image uploaded to the provider's file storage.
    public func uploadedFile(sha256: String, fileID: String) { providerFiles.append((sha256, fileID)) }
    private var lastFraction = 0.0
    private var lastMessage = ""

    convenience init(job: AssignedJob, control: JobControl, logger: Logger, socket: ZMQSocket) {
        self.init(job: job, control: control, logger: logger) { message in _ = try? socket.send(message.frames()) }
    }

    /// Messages go to `deliver` (tests run an engine with no reactor this way); log lines go to
    /// `logger`'s handler and to `log`.
    init(job: AssignedJob, control: JobControl, logger: Logger = Logger(label: "keyfarm.worker", factory: { _ in SwiftLogNoOpLogHandler() }),
         log: AttemptLog = AttemptLog(), deliver: @escaping (WireMessage) -> Void) {
        self.job = job
        self.control = control
        self.log = log
        self.logger = .attempt(job, base: logger, log: log)
        self.deliver = deliver
    }

    public var isCancelled: Bool { control.isCancelled }

    /// Reports progress (at most ten times a second; the last report always goes).
    ///
    /// The coordinator stops an attempt it hears nothing of for its stall timeout (5 min by
    /// default): an engine reports at least once a minute while it is healthy, the same
    /// fraction again if nothing moved (see `keepAlive` and proto/PROTOCOL.md, Timeouts).
    public func progress(_ fraction: Double, message: String = "", force: Bool = false) {
        let now = ContinuousClock.now
        guard force || now - lastProgress >= .milliseconds(100) else { return }
        lastProgress = now
        lastFraction = fraction
        lastMessage = message
        var body = ProgressBody()
        body.jobID = job.ref.jobID
        body.attempt = UInt32(job.ref.attempt)
        body.fraction = Float(min(max(fraction, 0), 1))
        body.message = message
        deliver(.progress(body))
    }

    /// Reports the last progress again if nothing was reported for `interval`: for engines that
    /// wait (a back-off, a slow download) and must not look stalled.
    public func keepAlive(every interval: Duration = .seconds(10)) {
        guard ContinuousClock.now - lastProgress >= interval else { return }
        progress(lastFraction, message: lastMessage, force: true)
    }

    /// Tells the coordinator the provider accepted a request, then waits until it is stored
    /// (SUBMITTED_ACK) before the engine may poll. False if the job was cancelled meanwhile.
    public func submitted(provider: String, requestID: String, timeout: Duration = .seconds(3600)) -> Bool {
        var body = SubmittedBody()
        body.jobID = job.ref.jobID
        body.attempt = UInt32(job.ref.attempt)
        body.provider = provider
        body.requestID = requestID
        deliver(.submitted(body))
        let deadline = ContinuousClock.now + timeout
        while !control.isSubmissionAcknowledged {
            if control.isCancelled || ContinuousClock.now > deadline { return false }
            keepAlive()
            Thread.sleep(forTimeInterval: 0.005)
        }
        return true
    }
}
