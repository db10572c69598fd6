import Foundation
import KeyfarmProcess

/// Where the PostgreSQL server programs (initdb, pg_ctl) live on this machine.
struct PostgresServerBinaries {
    var directory: String
    var initdb: String { directory + "/initdb" }
    var pgCtl: String { directory + "/pg_ctl" }

    /// Looks in `$KEYFARM_PG_BINDIR`, then `pg_config --bindir`, then `PATH`, then the newest
    /// `/usr/lib/postgresql/*/bin` (Debian and Ubuntu keep the server programs off `PATH`).
    static func locate(environment: [String: String]) throws -> PostgresServerBinaries {
        let files = FileManager.default
        func hasServer(_ directory: String) -> Bool {
            files.isExecutableFile(atPath: directory + "/initdb") && files.isExecutableFile(atPath: directory + "/pg_ctl")
        }
        if let directory = environment["KEYFARM_PG_BINDIR"], !directory.isEmpty {
            guard hasServer(directory) else {
                throw PostgresError(context: "finding PostgreSQL",
                                    message: "KEYFARM_PG_BINDIR is \(directory), which has no initdb and pg_ctl")
            }
            return PostgresServerBinaries(directory: directory)
        }
        let path = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        if let pgConfig = path.map({ $0 + "/pg_config" }).first(where: files.isExecutableFile(atPath:)),
           let outcome = try? ChildProcess(executable: pgConfig, arguments: ["--bindir"], environment: environment).run(),
           outcome.status == 0 {
            let directory = outcome.tail(1).trimmingASCIISpaces()
            if hasServer(directory) { return PostgresServerBinaries(directory: directory) }
        }
        if let directory = path.first(where: hasServer) {
            return PostgresServerBinaries(directory: directory)
        }
        let versions = ((try? files.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap { name in Double(name).map { (name: name, version: $0) } }
            .sorted { $0.version > $1.version }
        if let newest = versions.map({ "/usr/lib/postgresql/\($0.name)/bin" }).first(where: hasServer) {
            return PostgresServerBinaries(directory: newest)
        }
        throw PostgresError(context: "finding PostgreSQL",
                            message: "PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql or set KEYFARM_PG_BINDIR")
    }
}
