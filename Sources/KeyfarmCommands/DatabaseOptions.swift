import ArgumentParser
import Foundation
import KeyfarmPostgres
import KeyfarmStore
import Logging

/// The environment commands read (KEYFARM_DATABASE_URL, KEYFARM_LOG_LEVEL, ...); tests bind their own.
public enum CommandEnvironment {
    @TaskLocal public static var current: [String: String] = ProcessInfo.processInfo.environment
}

/// `--database-url`, shared by every command that touches PostgreSQL.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "The PostgreSQL database: a libpq URL (postgresql://...) or conninfo (host=... dbname=...).",
        discussion: """
            Defaults to $KEYFARM_DATABASE_URL. With neither, keyfarm uses its embedded private cluster \
            (created and started on first use under the user's data home). PG* variables such as \
            PGPASSWORD apply as libpq defines them; prefer them or a password file to a password in a URL.
            """, valueName: "url"))
    var databaseURL: String?

    /// Opens the farm's store: the given database (whose schema must be current unless
    /// `forMigration`), or the embedded cluster (migrated automatically, since it is ours).
    func openStore(logger: Logger, forMigration: Bool = false) throws -> FarmStore {
        try openStore(try resolve(logger: logger), logger: logger, forMigration: forMigration)
    }

    /// Opens the store on a database `resolve` found.
    func openStore(_ database: (conninfo: String, embedded: Bool), logger: Logger, forMigration: Bool = false) throws -> FarmStore {
        let store = try FarmStore(conninfo: database.conninfo, logger: logger)
        if database.embedded {
            if !forMigration { try store.migrate() }
        } else if !forMigration {
            try store.migrator.requireCurrent()
        }
        return store
    }

    /// The database named by --database-url or $KEYFARM_DATABASE_URL; nil when neither is set.
    var explicitURL: String? {
        databaseURL ?? CommandEnvironment.current["KEYFARM_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The database's connection string, starting the embedded cluster when no URL is given.
    func resolve(logger: Logger) throws -> (conninfo: String, embedded: Bool) {
        let environment = CommandEnvironment.current
        let explicit = databaseURL ?? environment["KEYFARM_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        if let conninfo = explicit { return (conninfo, false) }
        let directory = EmbeddedCluster.defaultDataDirectory(environment: environment)
        var cluster = EmbeddedCluster(dataDirectory: directory, logger: logger)
        cluster.environment = environment
        let fresh = !cluster.isInitialized
        Console.current.printError("keyfarm: using the embedded PostgreSQL cluster in \(directory)"
            + (fresh ? " (creating it now)" : "") + "; set KEYFARM_DATABASE_URL to use another server")
        do {
            return (try cluster.ensureRunning(), true)
        } catch {
            throw CommandFailure("cannot start the embedded PostgreSQL cluster: \(error)", status: ExitStatus.unavailable)
        }
    }
}

/// Options every command has: logging.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "How much to log on standard error: trace, debug, info, notice, warning, error or critical (default: $KEYFARM_LOG_LEVEL, else warning).",
        valueName: "level"))
    var logLevel: String?

    func logger(defaultLevel: String = "warning") throws -> Logger {
        let name = logLevel ?? CommandEnvironment.current["KEYFARM_LOG_LEVEL"] ?? defaultLevel
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            throw CommandFailure("--log-level: \"\(name)\" is not a log level; allowed: trace, debug, info, notice, warning, error, critical",
                                 status: ExitStatus.usage)
        }
        var logger = Logger(label: "keyfarm") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = level
        return logger
    }
}
