import Foundation
import KeyfarmPostgres
import KeyfarmProcess
import Logging

/// A primary and a synchronous streaming replica of a test's own (durable clusters on Unix
/// sockets, in a temporary directory): `pg_basebackup` makes the replica, which streams from
/// the primary as `replica_b`, and the primary waits for it at every commit
/// (`synchronous_standby_names`). `conninfo` lists both hosts with
/// `target_session_attrs=read-write`, as a farm that follows its primary is configured.
public final class ReplicatedPostgres {
    public let root: String
    public let primary: EmbeddedCluster
    public let replica: EmbeddedCluster
    /// Both hosts, primary first; libpq keeps the one that accepts writes.
    public let conninfo: String
    private let superuser: String
    private let runuser: String?
    private var bindir = ""

    public init(logger: Logger = Logger(label: "keyfarm.test-replication")) throws {
        var template = Array("/tmp/kfha-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw PostgresError(context: "creating a replicated test cluster", message: String(cString: strerror(errno)))
        }
        root = String(cString: created)
        if geteuid() == 0, let account = getpwnam("postgres") {
            chown(root, account.pointee.pw_uid, account.pointee.pw_gid)
            superuser = "postgres"
            runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first(where: FileManager.default.isExecutableFile(atPath:))
        } else {
            superuser = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "postgres"
            runuser = nil
        }
        primary = EmbeddedCluster(dataDirectory: root + "/a", logger: logger)
        replica = EmbeddedCluster(dataDirectory: root + "/b", logger: logger)
        conninfo = PostgresConninfo.make(["host": "\(primary.dataDirectory),\(replica.dataDirectory)", "port": "5432,5432",
                                          "dbname": "keyfarm", "user": superuser, "target_session_attrs": "read-write"])
        do {
            bindir = try Self.serverBinaries()
            try setUp(logger: logger)
        } catch {
            try? primary.stop(immediately: true)
            try? replica.stop(immediately: true)
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    private func setUp(logger: Logger) throws {
        _ = try primary.ensureRunning()
        let replicaDirectory = replica.dataDirectory
        try Self.check(run("pg_basebackup", ["-D", replicaDirectory, "-h", primary.dataDirectory, "-p", "5432", "-U", superuser,
                                             "-X", "stream", "-c", "fast"]), "pg_basebackup")
        // Copied with the data directory but the primary's: its socket's lock file and its log.
        for stale in ["/.s.PGSQL.5432.lock", "/server.log", "/postmaster.opts"] {
            try? FileManager.default.removeItem(atPath: replicaDirectory + stale)
        }
        let primaryConninfo = "host=\(primary.dataDirectory) port=5432 user=\(superuser) application_name=replica_b"
        try Self.append("""
            primary_conninfo = '\(primaryConninfo)'
            unix_socket_directories = '\(replicaDirectory)'
            hot_standby = on

            """, to: replicaDirectory + "/postgresql.auto.conf")
        FileManager.default.createFile(atPath: replicaDirectory + "/standby.signal", contents: Data())
        if geteuid() == 0, let account = getpwnam("postgres") {
            for file in ["/postgresql.auto.conf", "/standby.signal"] {
                chown(replicaDirectory + file, account.pointee.pw_uid, account.pointee.pw_gid)
            }
        }
        _ = try replica.ensureRunning()
        // Synchronous from here on: a commit the primary acknowledges is on the replica too.
        let connection = try PostgresConnection(conninfo: primary.conninfo(user: superuser, database: "postgres"), logger: logger)
        defer { connection.close() }
        try connection.execute("ALTER SYSTEM SET synchronous_standby_names = 'replica_b'")
        try connection.execute("ALTER SYSTEM SET synchronous_commit = 'on'")
        try connection.execute("SELECT pg_reload_conf()")
        let synchronous = try eventually(timeout: .seconds(60)) {
            try !connection.execute("""
                SELECT 1 FROM pg_stat_replication WHERE application_name = 'replica_b' AND sync_state = 'sync' AND state = 'streaming'
                """).rows.isEmpty
        }
        guard synchronous else {
            throw PostgresError(context: "starting a synchronous replica", message: "replica_b never became synchronous")
        }
    }

    deinit {
        try? primary.stop(immediately: true)
        try? replica.stop(immediately: true)
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Makes the replica the primary (`pg_ctl promote`, waiting until it accepts writes).
    public func promoteReplica() throws {
        try Self.check(run("pg_ctl", ["-D", replica.dataDirectory, "-w", "-t", "60", "promote"]), "pg_ctl promote")
    }

    /// The conninfo of one server, for checks.
    public func conninfo(of cluster: EmbeddedCluster, database: String = "keyfarm") -> String {
        cluster.conninfo(user: superuser, database: database)
    }

    private func run(_ program: String, _ arguments: [String]) throws -> ChildProcess.Outcome {
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        let executable = bindir + "/" + program
        if let runuser {
            return try ChildProcess(executable: runuser, arguments: ["-u", superuser, "--", executable] + arguments,
                                    environment: environment).run()
        }
        return try ChildProcess(executable: executable, arguments: arguments, environment: environment).run()
    }

    private static func check(_ outcome: ChildProcess.Outcome, _ what: String) throws {
        guard outcome.status == 0 else { throw PostgresError(context: what, message: outcome.tail()) }
    }

    private static func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// The server programs' directory: $KEYFARM_PG_BINDIR, else the newest Debian-style install.
    private static func serverBinaries() throws -> String {
        if let directory = ProcessInfo.processInfo.environment["KEYFARM_PG_BINDIR"], !directory.isEmpty { return directory }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        if let newest = versions.compactMap(Int.init).max() { return "/usr/lib/postgresql/\(newest)/bin" }
        throw PostgresError(context: "finding pg_basebackup", message: "no /usr/lib/postgresql/N/bin; set KEYFARM_PG_BINDIR")
    }
}
