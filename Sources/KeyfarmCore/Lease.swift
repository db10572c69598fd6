import Foundation

/// A job leased to a worker, as the database remembers it (for adoption after a restart).
public struct Lease: Sendable, Equatable {
    public var ref: AttemptRef
    public var workerID: Int64
    public var workerName: String
    public var maxAttempts: Int
    public var attemptInRound: Int
    /// What runs it, for its attempt timeout: the engine (nil for smoke and stitch jobs) and the job's kind.
    public var engine: String?
    public var kind: String

    public init(ref: AttemptRef, workerID: Int64, workerName: String, maxAttempts: Int, attemptInRound: Int,
                engine: String?, kind: String) {
        self.ref = ref
        self.workerID = workerID
        self.workerName = workerName
        self.maxAttempts = maxAttempts
        self.attemptInRound = attemptInRound
        self.engine = engine
        self.kind = kind
    }
}

/// A job leased to a worker by `claim`: what the coordinator puts in an ASSIGN.
public struct ClaimedJob: Sendable, Equatable {
    public var jobID: Int64
    public var attemptID: Int64
    public var attempt: Int
    public var key: String
    public var kind: String
    public var engine: String?
    public var priority: Int
    /// The job's full spec (JSON), as the plan made it.
    public var spec: String
    public var leaseExpiresAt: Date
    /// Attempts allowed in this round, and this attempt's number within it.
    public var maxAttempts: Int
    public var attemptInRound: Int
    public var shotList: String
    public var project: String
    /// A provider request an earlier attempt submitted and did not see through (the worker was
    /// lost, handed it back, or failed for a reason the request itself may not share): resume it.
    public var resumeProviderRequestID: String?

    public init(jobID: Int64, attemptID: Int64, attempt: Int, key: String, kind: String, engine: String?, priority: Int,
                spec: String, leaseExpiresAt: Date, maxAttempts: Int, attemptInRound: Int, shotList: String,
                project: String, resumeProviderRequestID: String?) {
        self.jobID = jobID
        self.attemptID = attemptID
        self.attempt = attempt
        self.key = key
        self.kind = kind
        self.engine = engine
        self.priority = priority
        self.spec = spec
        self.leaseExpiresAt = leaseExpiresAt
        self.maxAttempts = maxAttempts
        self.attemptInRound = attemptInRound
        self.shotList = shotList
        self.project = project
        self.resumeProviderRequestID = resumeProviderRequestID
    }
}

/// What a provider charged for an attempt, for the ledger.
public struct Charge: Sendable, Equatable {
    public var provider: String
    public var requestID: String?
    public var credits: Int64

    public init(provider: String, requestID: String?, credits: Int64) {
        self.provider = provider
        self.requestID = requestID
        self.credits = credits
    }
}
