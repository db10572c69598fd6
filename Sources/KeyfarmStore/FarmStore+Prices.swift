import Foundation
import KeyfarmCore
import KeyfarmPostgres

/// One row of the farm's price table.
public struct PriceEntry: Sendable, Equatable {
    public var engine: String
    public var resolution: Resolution
    public var durationBucket: Int
    public var credits: Int64
    public var note: String
    /// `default` (seeded from Keyfarm's built-in table) or `operator` (set with `keyfarm prices set`).
    public var source: String
    public var updatedAt: Date
}

/// Credits spent, grouped one way.
public struct CreditSummary: Sendable, Equatable {
    public var key: String
    public var charged: Int64
    public var refunded: Int64
    public var net: Int64
    public var estimated: Int64
    public var budget: Int64?
    /// Estimates reserved for attempts still running.
    public var reserved: Int64 = 0
    /// Credits possibly spent: creates whose answer was lost on an API that cannot list what
    /// they made (ledger entries `ambiguous`); not in `net`, but counted against budgets.
    public var ambiguous: Int64 = 0

    public init(key: String, charged: Int64, refunded: Int64, net: Int64, estimated: Int64, budget: Int64?, reserved: Int64 = 0) {
        self.reserved = reserved
        self.key = key
        self.charged = charged
        self.refunded = refunded
        self.net = net
        self.estimated = estimated
        self.budget = budget
    }
}

extension FarmStore {
    /// Adds Keyfarm's default prices that the table lacks; an operator's price is never replaced.
    /// Returns how many rows were added.
    @discardableResult
    public func seedPrices(_ table: PriceTable = .defaults) throws -> Int {
        var engines: [String] = [], resolutions: [String] = [], buckets: [Int] = [], credits: [Int64] = [], notes: [String] = []
        for (engine, price) in table.engines.sorted(by: { $0.key < $1.key }) where engine != "interpolate" {
            for (bucket, byResolution) in price.credits.sorted(by: { $0.key < $1.key }) {
                for (resolution, value) in byResolution.sorted(by: { $0.key.shortSide < $1.key.shortSide }) {
                    engines.append(engine)
                    resolutions.append(resolution.rawValue)
                    buckets.append(bucket)
                    credits.append(Int64(value))
                    notes.append(price.note)
                }
            }
        }
        return try connection.execute("""
            INSERT INTO keyfarm.prices (engine, resolution, duration_bucket, credits, note, source, updated_by)
            SELECT u.engine, u.resolution, u.bucket, u.credits, u.note, 'default', 'keyfarm'
            FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[]) AS u(engine, resolution, bucket, credits, note)
            ON CONFLICT (engine, resolution, duration_bucket) DO NOTHING
            """, [engines, resolutions, buckets, credits, notes]).affectedRows
    }

    public func prices() throws -> [PriceEntry] {
        try connection.execute("""
            SELECT engine, resolution, duration_bucket, credits, note, source, updated_at FROM keyfarm.prices
            ORDER BY engine, duration_bucket, CASE resolution WHEN '540p' THEN 1 WHEN '720p' THEN 2 ELSE 3 END
            """).rows.map { row in
            PriceEntry(engine: try row.decode("engine"),
                       resolution: Resolution(rawValue: try row.decode("resolution")) ?? .p1080,
                       durationBucket: try row.decode("duration_bucket"), credits: try row.decode("credits"),
                       note: try row.decode("note"), source: try row.decode("source"), updatedAt: try row.decode("updated_at"))
        }
    }

    /// The farm's price table, for planning at submit time.
    public func priceTable() throws -> PriceTable {
        var engines: [String: PriceTable.EnginePrice] = ["interpolate": PriceTable.defaults.engines["interpolate"]!]
        for entry in try prices() {
            engines[entry.engine, default: PriceTable.EnginePrice(credits: [:], note: entry.note)]
                .credits[entry.durationBucket, default: [:]][entry.resolution] = Int(entry.credits)
        }
        return PriceTable(engines: engines)
    }

    /// Sets one price (an operator's edit).
    public func setPrice(engine: String, resolution: Resolution, durationBucket: Int, credits: Int64, note: String) throws {
        try connection.execute("""
            INSERT INTO keyfarm.prices (engine, resolution, duration_bucket, credits, note, source)
            VALUES ($1, $2, $3, $4, $5, 'operator')
            ON CONFLICT (engine, resolution, duration_bucket) DO UPDATE
            SET credits = EXCLUDED.credits, note = CASE WHEN EXCLUDED.note = '' THEN keyfarm.prices.note ELSE EXCLUDED.note END,
                source = 'operator', updated_at = now(), updated_by = current_user
            """, [engine, resolution.rawValue, durationBucket, credits, note])
    }

    /// Removes one price; false when there was none.
    public func removePrice(engine: String, resolution: Resolution, durationBucket: Int) throws -> Bool {
        try connection.execute("DELETE FROM keyfarm.prices WHERE engine = $1 AND resolution = $2 AND duration_bucket = $3",
                               [engine, resolution.rawValue, durationBucket]).affectedRows > 0
    }

    public func usdPerCredit(account: String = "default") throws -> Double {
        try connection.execute("SELECT usd_per_credit::float8 AS rate FROM keyfarm.accounts WHERE name = $1", [account])
            .rows.first?.decode("rate", as: Double.self) ?? 0.01
    }

    public func setUSDPerCredit(_ rate: Double, account: String = "default") throws {
        try connection.execute("""
            INSERT INTO keyfarm.accounts (name, usd_per_credit) VALUES ($1, $2)
            ON CONFLICT (name) DO UPDATE SET usd_per_credit = EXCLUDED.usd_per_credit, updated_at = now()
            """, [account, rate])
    }

    /// Credits spent (from the ledger) and estimated (from the plans), grouped by provider,
    /// shot list (`project/name`) or day (UTC), newest or largest first.
    public func creditSummary(by grouping: CreditGrouping) throws -> [CreditSummary] {
        let sql: String
        switch grouping {
        case .provider:
            sql = """
                SELECT COALESCE(x.provider, '(none)') AS key, sum(x.charged)::bigint AS charged, sum(x.refunded)::bigint AS refunded,
                       sum(x.net)::bigint AS net, sum(x.estimated)::bigint AS estimated, NULL::bigint AS budget,
                       sum(x.reserved)::bigint AS reserved, sum(x.ambiguous)::bigint AS ambiguous
                FROM (
                    SELECT c.provider, CASE WHEN c.entry = 'charge' THEN c.credits ELSE 0 END AS charged,
                           CASE WHEN c.entry = 'refund' THEN c.credits ELSE 0 END AS refunded,
                           CASE WHEN c.entry IN ('charge', 'refund', 'adjustment') THEN c.credits ELSE 0 END AS net,
                           0 AS estimated, CASE WHEN c.entry IN ('reserve', 'release') THEN c.credits ELSE 0 END AS reserved,
                           CASE WHEN c.entry = 'ambiguous' THEN c.credits ELSE 0 END AS ambiguous
                    FROM keyfarm.credit_ledger c
                    UNION ALL
                    SELECT split_part(j.engine, '/', 1), 0, 0, 0, j.estimated_credits, 0, 0 FROM keyfarm.jobs j
                    JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
                    WHERE j.engine IS NOT NULL AND j.engine <> 'interpolate' AND l.state <> 'replaced'
                ) x GROUP BY 1 ORDER BY net DESC, key
                """
        case .shotList:
            sql = """
                SELECT l.project || '/' || l.name || CASE WHEN l.state = 'replaced' THEN ' (replaced, id ' || l.id || ')' ELSE '' END AS key,
                       COALESCE(sum(c.credits) FILTER (WHERE c.entry = 'charge'), 0)::bigint AS charged,
                       COALESCE(sum(c.credits) FILTER (WHERE c.entry = 'refund'), 0)::bigint AS refunded,
                       COALESCE(sum(c.credits) FILTER (WHERE c.entry IN ('charge', 'refund', 'adjustment')), 0)::bigint AS net,
                       l.estimated_credits AS estimated, l.budget_credits AS budget, l.reserved_credits AS reserved,
                       COALESCE(sum(c.credits) FILTER (WHERE c.entry = 'ambiguous'), 0)::bigint AS ambiguous
                FROM keyfarm.shot_lists l LEFT JOIN keyfarm.credit_ledger c ON c.shot_list_id = l.id
                GROUP BY l.id ORDER BY l.created_at DESC, l.id DESC
                """
        case .tier:
            sql = """
                SELECT x.tier AS key, sum(x.charged)::bigint AS charged, sum(x.refunded)::bigint AS refunded,
                       sum(x.net)::bigint AS net, sum(x.estimated)::bigint AS estimated, NULL::bigint AS budget,
                       sum(x.reserved)::bigint AS reserved, sum(x.ambiguous)::bigint AS ambiguous
                FROM (
                    SELECT CASE WHEN s.draft THEN 'draft' WHEN NOT s.draft THEN 'final' ELSE '(no job)' END AS tier,
                           CASE WHEN c.entry = 'charge' THEN c.credits ELSE 0 END AS charged,
                           CASE WHEN c.entry = 'refund' THEN c.credits ELSE 0 END AS refunded,
                           CASE WHEN c.entry IN ('charge', 'refund', 'adjustment') THEN c.credits ELSE 0 END AS net,
                           0 AS estimated, CASE WHEN c.entry IN ('reserve', 'release') THEN c.credits ELSE 0 END AS reserved,
                           CASE WHEN c.entry = 'ambiguous' THEN c.credits ELSE 0 END AS ambiguous
                    FROM keyfarm.credit_ledger c
                    LEFT JOIN keyfarm.jobs j ON j.id = c.job_id LEFT JOIN keyfarm.shots s ON s.id = j.shot_id
                    UNION ALL
                    SELECT CASE WHEN s.draft THEN 'draft' ELSE 'final' END, 0, 0, 0, j.estimated_credits, 0, 0
                    FROM keyfarm.jobs j JOIN keyfarm.shots s ON s.id = j.shot_id JOIN keyfarm.shot_lists l ON l.id = j.shot_list_id
                    WHERE l.state <> 'replaced'
                ) x GROUP BY 1 ORDER BY 1
                """
        case .day:
            sql = """
                SELECT to_char(date_trunc('day', c.recorded_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS key,
                       COALESCE(sum(c.credits) FILTER (WHERE c.entry = 'charge'), 0)::bigint AS charged,
                       COALESCE(sum(c.credits) FILTER (WHERE c.entry = 'refund'), 0)::bigint AS refunded,
                       COALESCE(sum(c.credits) FILTER (WHERE c.entry IN ('charge', 'refund', 'adjustment')), 0)::bigint AS net,
                       0::bigint AS estimated, NULL::bigint AS budget,
                       COALESCE(sum(c.credits) FILTER (WHERE c.entry IN ('reserve', 'release')), 0)::bigint AS reserved,
                       COALESCE(sum(c.credits) FILTER (WHERE c.entry = 'ambiguous'), 0)::bigint AS ambiguous
                FROM keyfarm.credit_ledger c GROUP BY 1 ORDER BY 1 DESC
                """
        }
        return try connection.execute(sql).rows.map { row in
            var summary = CreditSummary(key: try row.decode("key"), charged: try row.decode("charged"),
                                        refunded: try row.decode("refunded"), net: try row.decode("net"),
                                        estimated: try row.decode("estimated"), budget: try row.decode("budget", as: Int64?.self),
                                        reserved: try row.decode("reserved"))
            summary.ambiguous = try row.decode("ambiguous")
            return summary
        }
    }
}

/// How `keyfarm credits` groups spend.
public enum CreditGrouping: String, Sendable, CaseIterable {
    case provider
    case shotList = "shot-list"
    case day
    /// Draft renders against finals (a job's shot says which it is).
    case tier
}
