import Foundation
import KeyfarmProcess
import Logging

/// A private PostgreSQL cluster that Keyfarm creates and starts itself, so one machine needs no set-up.
///
/// The server listens only on a Unix socket inside its own data directory (mode 0700), so only the
/// account that owns it (and root) can connect, with trust authentication and no password. As root it
/// runs as the `postgres` system account, because PostgreSQL refuses to run as root.
public struct EmbeddedCluster: Sendable {
    public let dataDirectory: String
    private let logger: Logger
    /// The name of the database `ensureRunning` creates and returns.
    public var database = "keyfarm"
    /// The port in the socket's name; the socket directory is private, so the default never clashes.
    public var port = 5432
    /// When false, the cluster trades crash safety for speed (initdb --no-sync, fsync off): for tests only.
    public var durable = true
    /// The environment used to find binaries and run them; defaults to this process's.
    public var environment = ProcessInfo.processInfo.environment

    public init(dataDirectory: String, logger: Logger) {
        self.dataDirectory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        self.logger = logger
    }

    /// Where the farm keeps its cluster: `$KEYFARM_PG_DATA`; as root `/var/lib/keyfarm/postgres`;
    /// else `$XDG_DATA_HOME/keyfarm/postgres` or `~/.local/share/keyfarm/postgres`.
    public static func defaultDataDirectory(environment: [String: String]) -> String {
        if let directory = environment["KEYFARM_PG_DATA"], !directory.isEmpty { return directory }
        if geteuid() == 0 { return "/var/lib/keyfarm/postgres" }
        if let data = environment["XDG_DATA_HOME"], !data.isEmpty { return data + "/keyfarm/postgres" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/share/keyfarm/postgres"
    }

    /// Whether initdb has already made a cluster in the data directory.
    public var isInitialized: Bool {
        FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION")
    }

    /// Initializes the cluster on first use, starts the server if it is not running, creates the
    /// database, and returns a `key=value` conninfo for it. Safe to call from several processes at once.
    public func ensureRunning() throws -> String {
        let account = try ClusterAccount.current()
        let binaries = try PostgresServerBinaries.locate(environment: environment)
        try createParentDirectories(account: account)
        let lock = try FileLock(path: dataDirectory + ".lock")
        defer { lock.release() }
        if !isInitialized { try initialize(account: account, binaries: binaries) }
        try writeSettingsIfMissing()
        if try !isServerRunning(account: account, binaries: binaries) { try start(account: account, binaries: binaries) }
        try createDatabaseIfMissing(account: account)
        return conninfo(user: account.superuser, database: database)
    }

    /// Stops the server if it is running (pg_ctl -m fast: running transactions are rolled back;
    /// `immediately`: -m immediate, every server process quits at once and the next start
    /// recovers from the WAL, as after a crash).
    public func stop(immediately: Bool = false) throws {
        guard isInitialized else { return }
        let lock = try FileLock(path: dataDirectory + ".lock")
        defer { lock.release() }
        let account = try ClusterAccount.current()
        let binaries = try PostgresServerBinaries.locate(environment: environment)
        guard try isServerRunning(account: account, binaries: binaries) else { return }
        logger.info("stopping PostgreSQL", metadata: ["postgres.data_directory": "\(dataDirectory)"])
        let outcome = try run(binaries.pgCtl, ["-D", dataDirectory, "-m", immediately ? "immediate" : "fast", "-w", "-t", "60", "stop"], as: account)
        guard outcome.status == 0 else {
            throw PostgresError(context: "stopping PostgreSQL in \(dataDirectory)", message: outcome.tail())
        }
    }

    /// A `key=value` conninfo for the running server, without checking that it is up.
    public func conninfo(user: String, database: String) -> String {
        PostgresConninfo.make(["host": dataDirectory, "port": String(port), "dbname": database, "user": user])
    }

    // MARK: - Steps

    private var serverLog: String { dataDirectory + "/server.log" }

    private func initialize(account: ClusterAccount, binaries: PostgresServerBinaries) throws {
        let context = "creating a PostgreSQL cluster in \(dataDirectory)"
        let socketPath = dataDirectory + "/.s.PGSQL.\(port)"
        guard socketPath.utf8.count < 100 else {
            throw PostgresError(context: context, message: "the path is too long for a Unix socket (\(socketPath)); choose a shorter data directory with KEYFARM_PG_DATA")
        }
        try prepareDirectory(account: account, context: context)
        logger.info("initializing PostgreSQL cluster", metadata: ["postgres.data_directory": "\(dataDirectory)"])
        var arguments = ["-D", dataDirectory, "-U", account.superuser, "-A", "trust", "-E", "UTF8", "--no-locale"]
        if !durable { arguments.append("--no-sync") }
        let outcome = try run(binaries.initdb, arguments, as: account)
        guard outcome.status == 0 else { throw PostgresError(context: context, message: outcome.tail()) }
    }

    private static let settingsMarker = "# Keyfarm's embedded cluster"

    /// Appends Keyfarm's settings to postgresql.conf unless they are there already (checked on every
    /// start, so a crash between initdb and this step cannot leave a server listening on TCP).
    private func writeSettingsIfMissing() throws {
        let path = dataDirectory + "/postgresql.conf"
        let context = "configuring the PostgreSQL cluster in \(dataDirectory)"
        let current = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        if current.contains(Self.settingsMarker) { return }
        var settings = """

            \(Self.settingsMarker): Unix socket in the private data directory only.
            listen_addresses = ''
            unix_socket_directories = '\(dataDirectory.replacingOccurrences(of: "'", with: "''"))'
            unix_socket_permissions = 0700
            port = \(port)

            """
        if !durable { settings += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n" }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(settings.utf8))
        } catch {
            throw PostgresError(context: context, message: "cannot write postgresql.conf: \(error)")
        }
    }

    /// Creates the missing ancestors of the data directory (mode 0755, owned by the cluster's account),
    /// so that the lock file beside it has somewhere to live.
    private func createParentDirectories(account: ClusterAccount) throws {
        let context = "creating a PostgreSQL cluster in \(dataDirectory)"
        var missing: [String] = []
        var directory = (dataDirectory as NSString).deletingLastPathComponent
        while !FileManager.default.fileExists(atPath: directory), directory != "/" {
            missing.append(directory)
            directory = (directory as NSString).deletingLastPathComponent
        }
        for path in missing.reversed() {
            try makeDirectory(path, mode: 0o755, account: account, context: context)
        }
    }

    /// Creates the data directory (or takes over an empty one) for the cluster's account, mode 0700.
    private func prepareDirectory(account: ClusterAccount, context: String) throws {
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: dataDirectory), !contents.isEmpty {
            throw PostgresError(context: context, message: "the directory exists, is not empty and holds no cluster (no PG_VERSION)")
        }
        try makeDirectory(dataDirectory, mode: 0o700, account: account, context: context)
        guard chmod(dataDirectory, 0o700) == 0 else {
            throw PostgresError(context: context, message: "cannot chmod \(dataDirectory): \(String(cString: strerror(errno)))")
        }
    }

    /// mkdir that tolerates a concurrent creator, then hands the directory to the cluster's account.
    private func makeDirectory(_ path: String, mode: mode_t, account: ClusterAccount, context: String) throws {
        guard mkdir(path, mode) == 0 || errno == EEXIST else {
            throw PostgresError(context: context, message: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        if let runAs = account.runAs, chown(path, runAs.uid, runAs.gid) != 0 {
            throw PostgresError(context: context, message: "cannot give \(path) to \(account.superuser): \(String(cString: strerror(errno)))")
        }
    }

    private func isServerRunning(account: ClusterAccount, binaries: PostgresServerBinaries) throws -> Bool {
        let outcome = try run(binaries.pgCtl, ["-D", dataDirectory, "status"], as: account)
        switch outcome.status {
        case 0: return true
        case 3: return false
        default:
            throw PostgresError(context: "checking PostgreSQL in \(dataDirectory)", message: outcome.tail())
        }
    }

    private func start(account: ClusterAccount, binaries: PostgresServerBinaries) throws {
        logger.info("starting PostgreSQL", metadata: ["postgres.data_directory": "\(dataDirectory)"])
        let outcome = try run(binaries.pgCtl, ["-D", dataDirectory, "-l", serverLog, "-w", "-t", "60", "start"], as: account)
        guard outcome.status == 0 else {
            let log = (try? String(contentsOfFile: serverLog, encoding: .utf8))
                .map { $0.split(whereSeparator: \.isNewline).suffix(20).joined(separator: "\n") } ?? "(no server log)"
            throw PostgresError(context: "starting PostgreSQL in \(dataDirectory)",
                                message: "\(outcome.tail())\nserver log (\(serverLog)):\n\(log)")
        }
    }

    private func createDatabaseIfMissing(account: ClusterAccount) throws {
        let connection = try PostgresConnection(conninfo: conninfo(user: account.superuser, database: "postgres"), logger: logger)
        defer { connection.close() }
        let existing = try connection.execute("SELECT 1 FROM pg_database WHERE datname = $1", [database])
        guard existing.isEmpty else { return }
        logger.info("creating database", metadata: ["postgres.database": "\(database)"])
        do {
            // CREATE DATABASE takes no parameters; the name is quoted as an identifier instead.
            try connection.execute("CREATE DATABASE " + PostgresIdentifier.quoted(database))
        } catch let error as PostgresError where error.sqlState == "42P04" {
            return  // created meanwhile by someone not holding our lock
        }
    }

    private func run(_ executable: String, _ arguments: [String], as account: ClusterAccount) throws -> ChildProcess.Outcome {
        // PG* variables (PGDATA, PGPORT, ...) from the caller's environment must not redirect the cluster.
        let environment = self.environment.filter { !$0.key.hasPrefix("PG") }
        if let runAs = account.runAs {
            return try ChildProcess(executable: runAs.runuser,
                                    arguments: ["-u", account.superuser, "--", executable] + arguments,
                                    environment: environment).run()
        }
        return try ChildProcess(executable: executable, arguments: arguments, environment: environment).run()
    }
}
