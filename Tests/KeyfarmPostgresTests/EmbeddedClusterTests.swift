import Foundation
import KeyfarmPostgres
import Logging
import Testing

/// The embedded cluster, created from scratch in a temporary directory.
@Suite struct EmbeddedClusterTests {
    @Test func startsOnceServesTwiceAndStops() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Missing parent directories are created too (owned by the postgres account when root).
        var cluster = EmbeddedCluster(dataDirectory: directory + "/farm/data", logger: Logger(label: "test"))
        cluster.durable = false
        #expect(!cluster.isInitialized)

        // Two callers at once (flock makes them take turns), then one more: all get a working server.
        let shared = cluster
        let concurrent = try Self.concurrently(2) { try shared.ensureRunning() }
        let again = try cluster.ensureRunning()
        #expect(cluster.isInitialized)
        for conninfo in concurrent + [again] {
            let connection = try PostgresConnection(conninfo: conninfo, logger: Logger(label: "test"))
            #expect(try connection.execute("SELECT current_database() AS db")[0].decode("db", as: String.self) == "keyfarm")
            connection.close()
        }
        #expect(again.contains("host=\(directory)/farm/data"))
        if geteuid() == 0, let postgres = getpwnam("postgres") {
            var info = stat()
            #expect(stat(directory + "/farm", &info) == 0 && info.st_uid == postgres.pointee.pw_uid)
            #expect(stat(directory + "/farm/data", &info) == 0 && info.st_mode & 0o777 == 0o700)
        }
        #expect(again.contains("dbname=keyfarm"))

        try cluster.stop()
        #expect(throws: PostgresError.self) {
            _ = try PostgresConnection(conninfo: again, logger: Logger(label: "test"))
        }
        try cluster.stop()  // stopping a stopped cluster is fine

        // A server that cannot start explains why, from its own log.
        let config = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/farm/data/postgresql.conf"))
        try config.seekToEnd()
        try config.write(contentsOf: Data("shared_buffers = 'plenty'\n".utf8))
        try config.close()
        let failure = #expect(throws: PostgresError.self) { try cluster.ensureRunning() }
        #expect(failure?.context.hasPrefix("starting PostgreSQL") == true)
        #expect(failure?.message.contains("shared_buffers") == true)
    }

    @Test func missingBinariesAreExplained() throws {
        var cluster = EmbeddedCluster(dataDirectory: "/tmp/kfpg-never-created/data", logger: Logger(label: "test"))
        cluster.environment = ["KEYFARM_PG_BINDIR": "/nonexistent/bin", "PATH": "/nonexistent"]
        let error = #expect(throws: PostgresError.self) { try cluster.ensureRunning() }
        #expect(error?.description.contains("KEYFARM_PG_BINDIR") == true)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/kfpg-never-created"))
    }

    @Test func defaultDataDirectoryFollowsTheEnvironment() {
        #expect(EmbeddedCluster.defaultDataDirectory(environment: ["KEYFARM_PG_DATA": "/srv/pg"]) == "/srv/pg")
        let fallback = EmbeddedCluster.defaultDataDirectory(environment: ["HOME": "/home/ada", "XDG_DATA_HOME": "/data"])
        if geteuid() == 0 {
            #expect(fallback == "/var/lib/keyfarm/postgres")
        } else {
            #expect(fallback == "/data/keyfarm/postgres")
        }
    }

    /// A short-named temporary directory the cluster's account can use (the postgres account when root).
    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/kfpg-cluster-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw POSIXError(.EIO) }
        let directory = String(cString: created)
        if geteuid() == 0, let account = getpwnam("postgres") {
            chown(directory, account.pointee.pw_uid, account.pointee.pw_gid)
        }
        return directory
    }

    /// Runs `body` on `count` threads at once and returns every result, or the first error.
    static func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable () throws -> T) throws -> [T] {
        let results = ResultBox<T>()
        let group = DispatchGroup()
        for _ in 0..<count {
            group.enter()
            Thread.detachNewThread {
                results.append(Result { try body() })
                group.leave()
            }
        }
        group.wait()
        return try results.values.map { try $0.get() }
    }
}

/// Results collected from several threads.
private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Result<T, any Error>] = []
    func append(_ result: Result<T, any Error>) { lock.lock(); stored.append(result); lock.unlock() }
    var values: [Result<T, any Error>] { lock.lock(); defer { lock.unlock() }; return stored }
}
