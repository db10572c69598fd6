import KeyfarmPostgres
import Logging

/// One versioned change to the `keyfarm` schema, applied once, in its own transaction.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    /// Every migration, oldest first. Append only: an applied migration is never edited.
    public static let all: [Migration] = [.initial, .dispatch, .prices, .budgets, .providerAccounts, .outputs, .roles,
                                          .workerKeys, .attemptLogs, .attemptTimeouts, .attemptLogRetention,
                                          .operatorRetries, .storageRootsAndSuspensions, .modelInputs, .revisions,
                                          .coordinatorLease, .leanClaim]

    public static var latestVersion: Int { all.last?.version ?? 0 }

    /// A fingerprint of the SQL (FNV-1a, 64 bit) so that editing an applied migration is caught.
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// Applies pending migrations; safe to run again and from two processes at once.
public struct Migrator {
    let connection: PostgresConnection
    let logger: Logger
    let migrations: [Migration]

    /// The advisory lock key every migrator takes (an arbitrary constant: "keyfarm" in ASCII).
    static let lockKey: Int64 = 0x6b65_7966_6172_6d

    public init(connection: PostgresConnection, logger: Logger, migrations: [Migration] = Migration.all) {
        self.connection = connection
        self.logger = logger
        self.migrations = migrations
    }

    /// Applies every migration not yet recorded; returns those it applied (empty when current).
    @discardableResult
    public func migrate() throws -> [Migration] {
        try connection.execute("SELECT pg_advisory_lock($1)", [Migrator.lockKey])
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock($1)", [Migrator.lockKey]) }
        try connection.executeScript("""
            SET client_min_messages = warning;
            CREATE SCHEMA IF NOT EXISTS keyfarm;
            CREATE TABLE IF NOT EXISTS keyfarm.schema_migrations (
                version    int PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            RESET client_min_messages;
            """)
        let applied = try appliedChecksums()
        var done: [Migration] = []
        for migration in migrations {
            if let checksum = applied[migration.version] {
                guard checksum == migration.checksum else {
                    throw StoreError.migrationChanged(version: migration.version, name: migration.name)
                }
                continue
            }
            try connection.transaction { connection in
                do {
                    try connection.executeScript(migration.sql)
                } catch var error as PostgresError {
                    error.context = "applying migration \(migration.version) (\(migration.name))"
                    throw error
                }
                try connection.execute(
                    "INSERT INTO keyfarm.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    [migration.version, migration.name, migration.checksum])
            }
            logger.info("applied migration", metadata: ["migration.version": "\(migration.version)",
                                                        "migration.name": "\(migration.name)"])
            done.append(migration)
        }
        return done
    }

    /// The newest applied version, or 0 for a database Keyfarm has never migrated.
    public func currentVersion() throws -> Int {
        let exists = try connection.execute("SELECT to_regclass('keyfarm.schema_migrations') IS NOT NULL AS present")
        guard try exists.rows.first?.decode("present", as: Bool.self) == true else { return 0 }
        let result = try connection.execute("SELECT COALESCE(max(version), 0) AS version FROM keyfarm.schema_migrations")
        return try result.rows.first?.decode("version", as: Int.self) ?? 0
    }

    /// Throws a clear error unless the schema is exactly what this build expects.
    public func requireCurrent() throws {
        let current = try currentVersion()
        let latest = migrations.last?.version ?? 0
        if current < latest { throw StoreError.schemaBehind(current: current, required: latest) }
        if current > latest { throw StoreError.schemaAhead(current: current, known: latest) }
    }

    private func appliedChecksums() throws -> [Int: String] {
        var checksums: [Int: String] = [:]
        for row in try connection.execute("SELECT version, checksum FROM keyfarm.schema_migrations").rows {
            checksums[try row.decode("version", as: Int.self)] = try row.decode("checksum", as: String.self)
        }
        return checksums
    }
}
