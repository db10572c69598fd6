import Foundation
import KeyfarmCore
import KeyfarmProtocol

/// A write the dispatcher decided on; the reactor carries it out with the store. Every retry
/// decision is already made: `completeFailure` says when the job may run again, or nil for never.
public enum StoreCommand: Sendable, Equatable {
    /// Attempts a worker ACCEPTED: running now.
    case markRunning([AcceptedAttempt])
    case recordProgress([AttemptProgress])
    /// A provider request an attempt submitted (stored before its acknowledgement goes).
    case recordProviderRequest(AttemptRef, provider: String, requestID: String)
    /// Files an attempt uploaded, which serve every later job of the account.
    case recordProviderFiles(provider: String, files: [ProviderFileRecord])
    case completeSuccess(Success)
    /// The job's reuse source is gone: it renders after all.
    case dropReuse(AttemptRef, reason: String)
    /// The worker handed the attempt back uncounted (`fresh`: start a new provider request).
    case handBack(AttemptRef, providerRequestID: String?, fresh: Bool)
    /// The provider refused for the account: no more of its jobs go out until an operator resumes it.
    case suspendProvider(String, reason: String)
    /// A create's answer was lost: its estimate is booked as possibly spent.
    case recordAmbiguousCreate(AttemptRef, provider: String)
    /// Closes a failed (or lost) attempt; with `retryAfter` the job is queued again not before
    /// that many seconds from now, without it fails for good.
    case completeFailure(AttemptRef, ErrorClass, error: String, retryAfter: Double?, charge: Charge?)
    case setWorkerStates([WorkerState])
    case renewLeases(workerIDs: [Int64], seconds: Double)
    /// NOTIFY listeners (`keyfarm watch`) of the shot lists these jobs belong to.
    case announce(jobIDs: [Int64])
}

/// A question for the database whose answer comes back as an event.
public enum Query: Sendable, Equatable {
    /// Record the worker's HELLO and read the attempts leased to it: `.registered`, or
    /// `.registrationFailed` when the database refuses the statement.
    case register(Identity, HelloBody)
    /// Read the attempts leased to a worker, to lose them: `.leasesToLose`.
    case leasesToLose(workerID: Int64, reason: String, finalState: String)
    /// Whether an operator drains each of these workers: `.drainStates`.
    case drainStates([String])
    /// The cancelled jobs of a shot list: `.cancelledJobs`.
    case cancelledJobs(shotListID: Int64)
    /// The allow-list of worker keys: `.keysLoaded`.
    case workerKeys
    /// Lease ready jobs to these slots, one group per capability set: `.claimed`.
    case claim([ClaimGroup], leaseSeconds: Double)
    /// Record these results, each on its own (a savepoint), all in one transaction with their
    /// log tails: `.resultsRecorded` with those that committed.
    case recordResults([ResultRecord])
    /// Empty attempt log tails older than this many seconds, a batch: `.logsPruned`.
    case pruneLogs(olderThan: Double, limit: Int)
}

/// Slots of workers that offer the same capabilities, interleaved so that work spreads.
public struct ClaimGroup: Sendable, Equatable {
    public var capabilities: [String]
    /// A worker id per slot.
    public var slots: [Int64]
}

/// What one claim group got.
public struct ClaimAnswer: Sendable, Equatable {
    public var jobs: [(workerID: Int64, job: ClaimedJob)]
    /// How many slots were asked for: a full answer means more may be ready.
    public var requested: Int

    public init(jobs: [(workerID: Int64, job: ClaimedJob)], requested: Int) {
        self.jobs = jobs
        self.requested = requested
    }

    public static func == (lhs: ClaimAnswer, rhs: ClaimAnswer) -> Bool {
        lhs.requested == rhs.requested && lhs.jobs.count == rhs.jobs.count
            && zip(lhs.jobs, rhs.jobs).allSatisfy { $0.workerID == $1.workerID && $0.job == $1.job }
    }
}

/// One RESULT to record, and the connection to acknowledge it on once committed.
public struct ResultRecord: Sendable, Equatable {
    public var identity: Identity
    public var ref: AttemptRef
    /// The writes, in order, in one savepoint.
    public var commands: [StoreCommand]
    public var logTail: String
    public var logLinesDropped: Int

    /// A success that charged nothing: the reactor records such results with one set-based statement.
    public var plainSuccess: Success? {
        guard commands.count == 1, case .completeSuccess(let success) = commands[0], success.charge == nil else { return nil }
        return success
    }
}

public struct Success: Sendable, Equatable {
    public var ref: AttemptRef
    public var artifactPath: String?
    public var artifactSHA256: String?
    public var artifactsJSON: String
    public var charge: Charge?
    public var receivedAtMicroseconds: Int64
    public var reusedFromAttemptID: Int64
}

public struct AcceptedAttempt: Sendable, Equatable {
    public var ref: AttemptRef
    public var receivedAtMicroseconds: Int64
}

public struct AttemptProgress: Sendable, Equatable {
    public var ref: AttemptRef
    public var fraction: Double
}

public struct ProviderFileRecord: Sendable, Equatable {
    public var sha256: String
    public var fileID: String
}

public struct WorkerState: Sendable, Equatable {
    public var workerID: Int64
    /// `ready`, `draining`, `lost` or `offline`.
    public var state: String

    public init(workerID: Int64, state: String) {
        self.workerID = workerID
        self.state = state
    }
}

extension Dispatcher {
    /// Artifacts as the JSON array stored with a job and handed to its dependants as `inputs`.
    /// Each carries the reporting worker's storage root, so that an operator is told where a
    /// file really is (`v_outputs.storage_root`).
    /// The same `JobSpec.Artifact` the engines read them back as.
    public static func json(_ artifacts: [ArtifactBody], storageRoot: String? = nil) -> String {
        let entries = artifacts.map {
            JobSpec.Artifact(path: $0.path, sha256: $0.sha256, bytes: $0.bytes, mediaType: $0.mediaType,
                             frames: $0.frames > 0 ? Int($0.frames) : nil, storageRoot: storageRoot)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(entries) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension ErrorClass {
    /// The error class a worker reported; an unset class counts as transient.
    public init(_ wire: Keyfarm_Wire_V1_ErrorClass) {
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
