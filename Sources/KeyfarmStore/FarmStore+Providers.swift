import Foundation
import KeyfarmCore
import KeyfarmPostgres

/// A provider account's limits and failure policy, with what it is doing now.
public struct ProviderAccount: Sendable, Equatable {
    public var provider: String
    /// Generations in flight at once; nil for no limit.
    public var maxConcurrent: Int?
    /// Generations started in any minute; nil for no limit.
    public var createsPerMinute: Int?
    /// `refunded`, `charged` or `free`: what a failed generation costs.
    public var failedGenerations: String
    /// Its jobs leased or running now.
    public var inFlight: Int
    /// Its attempts started in the last minute.
    public var startedLastMinute: Int
    public var updatedAt: Date
    /// When the provider stopped the account itself (Luma's `budget_exhausted`), and what it
    /// said: none of its jobs is dispatched until an operator resumes it.
    public var suspendedAt: Date? = nil
    public var suspendedReason: String? = nil
}

extension FarmStore {
    /// What a failed generation may cost, as `keyfarm providers set --failed-generations` takes it.
    public static let failedGenerationPolicies = ["refunded", "charged", "free"]

    /// Every provider account, by name, with its current use.
    public func providerAccounts() throws -> [ProviderAccount] {
        try connection.execute("SELECT * FROM keyfarm.v_provider_accounts ORDER BY provider").rows.map { row in
            ProviderAccount(provider: try row.decode("provider"), maxConcurrent: try row.decode("max_concurrent", as: Int?.self),
                            createsPerMinute: try row.decode("creates_per_minute", as: Int?.self),
                            failedGenerations: try row.decode("failed_generations"), inFlight: try row.decode("in_flight"),
                            startedLastMinute: try row.decode("started_last_minute"), updatedAt: try row.decode("updated_at"),
                            suspendedAt: try row.decode("suspended_at", as: Date?.self),
                            suspendedReason: try row.decode("suspended_reason", as: String?.self))
        }
    }

    /// Stops dispatching a provider's jobs: it said the account, not the job, cannot go on.
    /// The first suspension's time and reason stand until the account is resumed.
    public func suspendProvider(_ provider: String, reason: String) throws {
        try connection.execute("""
            INSERT INTO keyfarm.provider_accounts AS pa (provider, suspended_at, suspended_reason) VALUES ($1, now(), left($2, 2000))
            ON CONFLICT (provider) DO UPDATE SET suspended_at = COALESCE(pa.suspended_at, now()),
                suspended_reason = COALESCE(pa.suspended_reason, EXCLUDED.suspended_reason), updated_at = now()
            """, [provider, reason])
    }

    /// Dispatches a suspended provider's jobs again; false when it was not suspended.
    @discardableResult
    public func resumeProvider(_ provider: String) throws -> Bool {
        try connection.transaction { connection in
            let rows = try connection.execute("""
                UPDATE keyfarm.provider_accounts SET suspended_at = NULL, suspended_reason = NULL, updated_at = now()
                WHERE provider = $1 AND suspended_at IS NOT NULL RETURNING provider
                """, [provider]).rows
            if !rows.isEmpty { try connection.notify(FarmStore.jobsChannel, payload: "released") }
            return !rows.isEmpty
        }
    }

    /// A change to a provider account: nil leaves a field as it is; `.some(nil)` removes a limit.
    public struct ProviderAccountChange: Sendable {
        public var maxConcurrent: Int??
        public var createsPerMinute: Int??
        public var failedGenerations: String?

        public init(maxConcurrent: Int?? = nil, createsPerMinute: Int?? = nil, failedGenerations: String? = nil) {
            self.maxConcurrent = maxConcurrent
            self.createsPerMinute = createsPerMinute
            self.failedGenerations = failedGenerations
        }
    }

    /// Creates or changes a provider account in one statement, and wakes the coordinator
    /// (a raised limit may free queued jobs).
    public func setProviderAccount(_ provider: String, _ change: ProviderAccountChange) throws {
        try connection.transaction { connection in
            try connection.execute("""
                INSERT INTO keyfarm.provider_accounts AS pa (provider, max_concurrent, creates_per_minute, failed_generations)
                VALUES ($1, CASE WHEN $2 THEN $3::int END, CASE WHEN $4 THEN $5::int END, COALESCE($6, 'charged'))
                ON CONFLICT (provider) DO UPDATE SET
                    max_concurrent = CASE WHEN $2 THEN $3::int ELSE pa.max_concurrent END,
                    creates_per_minute = CASE WHEN $4 THEN $5::int ELSE pa.creates_per_minute END,
                    failed_generations = COALESCE($6, pa.failed_generations),
                    updated_at = now()
                """, [provider, change.maxConcurrent != nil, change.maxConcurrent ?? nil,
                      change.createsPerMinute != nil, change.createsPerMinute ?? nil, change.failedGenerations])
            try connection.notify(FarmStore.jobsChannel, payload: "released")
        }
    }
}

extension FarmStore {
    /// Records files a worker uploaded to a provider (newest id wins for a content hash).
    public func recordProviderFiles(provider: String, _ files: [(sha256: String, fileID: String)]) throws {
        let valid = files.filter { $0.sha256.range(of: "^[0-9a-f]{64}$", options: .regularExpression) != nil && !$0.fileID.isEmpty }
        guard !valid.isEmpty else { return }
        try connection.execute("""
            INSERT INTO keyfarm.provider_files (provider, sha256, file_id)
            SELECT $1, u.sha, u.id FROM unnest($2::text[], $3::text[]) AS u(sha, id)
            ON CONFLICT (provider, sha256) DO UPDATE SET file_id = EXCLUDED.file_id, uploaded_at = now()
            """, [provider, valid.map(\.sha256), valid.map(\.fileID)])
    }

    /// The files a provider keeps, by content hash.
    public func providerFiles(provider: String) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try connection.execute(
            "SELECT sha256, file_id FROM keyfarm.provider_files WHERE provider = $1", [provider]).rows.map {
                (try $0.decode("sha256", as: String.self), try $0.decode("file_id", as: String.self))
            })
    }
}

extension FarmStore {
    /// Books what an attempt's create may have cost when its answer was lost and the API could
    /// not say whether it made a generation: the job's estimate as an `ambiguous` ledger entry
    /// (once per attempt), which `keyfarm credits` shows as possibly spent and budgets count.
    public func recordAmbiguousCreate(_ ref: AttemptRef, provider: String) throws {
        try connection.execute("""
            INSERT INTO keyfarm.credit_ledger (shot_list_id, job_id, attempt_id, engine, provider, entry, credits, note)
            SELECT j.shot_list_id, j.id, a.id, j.engine, $3, 'ambiguous',
                   GREATEST(COALESCE((j.spec->>'estimated_credits')::bigint, j.estimated_credits), 0),
                   'a create was sent and its answer lost; the provider may have made, and bill, a generation'
            FROM keyfarm.jobs j JOIN keyfarm.attempts a ON a.job_id = j.id AND a.attempt = $2
            WHERE j.id = $1
            ON CONFLICT DO NOTHING
            """, [ref.jobID, ref.attempt, provider])
    }
}
