import Foundation
import KeyfarmPostgres
import Logging

/// Gives each test its own empty PostgreSQL database, so tests run in parallel against a real server.
///
/// The server is the one `$KEYFARM_TEST_DATABASE_URL` names (see `ops/scripts/with-test-postgres`),
/// or else a throwaway cluster this process starts once in a temporary directory and stops at exit.
public enum TestPostgres {
    /// A conninfo for a brand-new, empty database (`kf_test_<random>`) created for one test.
    public static func freshDatabase() throws -> String {
        let server = try serverConninfo()
        let name = "kf_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let connection = try PostgresConnection(conninfo: server, logger: logger)
        defer { connection.close() }
        try connection.execute("CREATE DATABASE " + PostgresIdentifier.quoted(name))
        return try PostgresConninfo.replacingDatabase(in: server, with: name)
    }

    /// A conninfo for the server's maintenance database, where tests may create databases.
    public static func serverConninfo() throws -> String {
        if let url = ProcessInfo.processInfo.environment["KEYFARM_TEST_DATABASE_URL"], !url.isEmpty {
            return url
        }
        return try state.withLock { state in
            if let conninfo = state.conninfo { return conninfo }
            if let failure = state.failure { throw failure }
            do {
                let conninfo = try startThrowawayCluster(&state)
                state.conninfo = conninfo
                return conninfo
            } catch {
                state.failure = error
                throw error
            }
        }
    }

    static let logger: Logger = {
        var logger = Logger(label: "keyfarm.test-postgres")
        logger.logLevel = .warning
        return logger
    }()

    private static let state = LockedState()
    private static let directoryPrefix = "kfpg-test-"

    private static func startThrowawayCluster(_ state: inout LockedState.Contents) throws -> String {
        removeAbandonedClusters()
        // Under /tmp rather than $TMPDIR: the socket path must stay short.
        var template = Array("/tmp/\(directoryPrefix)XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw PostgresError(context: "creating a test cluster", message: String(cString: strerror(errno)))
        }
        let directory = String(cString: created)
        try "\(getpid())\n".write(toFile: directory + "/owner.pid", atomically: true, encoding: .utf8)
        if geteuid() == 0, let account = getpwnam("postgres") {
            chown(directory, account.pointee.pw_uid, account.pointee.pw_gid)
        }
        var cluster = EmbeddedCluster(dataDirectory: directory + "/data", logger: logger)
        cluster.database = "postgres"
        cluster.durable = false
        state.cluster = cluster
        state.directory = directory
        atexit { TestPostgres.stopAtExit() }
        return try cluster.ensureRunning()
    }

    private static func stopAtExit() {
        let (cluster, directory) = state.withLock { ($0.cluster, $0.directory) }
        guard let cluster, let directory else { return }
        try? cluster.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Stops and deletes clusters left by test processes that were killed before their atexit ran.
    private static func removeAbandonedClusters() {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for entry in entries where entry.hasPrefix(directoryPrefix) {
            let directory = "/tmp/" + entry
            guard let text = try? String(contentsOfFile: directory + "/owner.pid", encoding: .utf8),
                  let owner = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  kill(owner, 0) != 0, errno == ESRCH else { continue }
            try? EmbeddedCluster(dataDirectory: directory + "/data", logger: logger).stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// The lazily started cluster, guarded by a lock because tests call `freshDatabase` from many threads.
    private final class LockedState: @unchecked Sendable {
        struct Contents {
            var conninfo: String?
            var failure: (any Error)?
            var cluster: EmbeddedCluster?
            var directory: String?
        }

        private let lock = NSLock()
        private var contents = Contents()

        func withLock<T>(_ body: (inout Contents) throws -> T) rethrows -> T {
            lock.lock()
            defer { lock.unlock() }
            return try body(&contents)
        }
    }
}
