import Foundation
import KeyfarmPostgres
import Logging
import KeyfarmTestSupport
import Testing

/// The built `keyfarm` executable, run as a real process.
@Suite struct BinaryTests {
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "KEYFARM_DATABASE_URL")
        return environment
    }

    @Test func invalidShotListExits65WithEveryError() async throws {
        try await offPool {
            let run = try runBinary(["plan", "examples/invalid.yaml"], environment: environment)
            #expect(run.status == 65)
            #expect(run.out.isEmpty)
            #expect(run.error.contains("examples/invalid.yaml: shots[1].duration: 24 s, at most 20 s"))
            #expect(run.error.contains("keyfarm: error: examples/invalid.yaml: 5 errors; nothing was changed"))
        }
    }

    @Test func planJSONAndVersion() async throws {
        try await offPool {
            let run = try runBinary(["plan", "--json", "examples/demo.yaml"], environment: environment)
            #expect(run.status == 0, "\(run.error)")
            let object = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any]
            #expect(object?["shot_list"] as? String == "demo")
            let version = try runBinary(["--version"], environment: environment)
            #expect(version.status == 0)
            #expect(version.out.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
            let usage = try runBinary(["frobnicate"], environment: environment)
            #expect(usage.status == 64)
        }
    }

    /// Without a database URL, keyfarm creates and starts its own private cluster.
    @Test func theEmbeddedClusterServesMigrateSubmitAndStatus() async throws {
        try await offPool {
            var template = Array("/tmp/kf-embedded-XXXXXX".utf8CString)
            let directory = String(cString: try #require(mkdtemp(&template)))
            defer { try? FileManager.default.removeItem(atPath: directory) }
            // As root the cluster runs as `postgres`, which must be able to reach its directory.
            if geteuid() == 0, let account = getpwnam("postgres") {
                chown(directory, account.pointee.pw_uid, account.pointee.pw_gid)
            }
            var environment = self.environment
            environment["KEYFARM_PG_DATA"] = directory + "/pg"
            defer { try? EmbeddedCluster(dataDirectory: directory + "/pg", logger: Logger(label: "test")).stop() }

            let migrate = try runBinary(["migrate"], environment: environment)
            #expect(migrate.status == 0, "\(migrate.error)")
            #expect(migrate.error.contains("using the embedded PostgreSQL cluster in \(directory)/pg (creating it now)"))
            let submit = try runBinary(["submit", "examples/demo.yaml"], environment: environment)
            #expect(submit.status == 0, "\(submit.error)")
            #expect(submit.out.contains("submitted shot list demo"))
            let status = try runBinary(["status", "--json"], environment: environment)
            #expect(status.status == 0, "\(status.error)")
            let lists = (try JSONSerialization.jsonObject(with: Data(status.out.utf8)) as? [String: Any])?["shot_lists"] as? [[String: Any]]
            #expect(lists?.first?["name"] as? String == "demo")
            #expect(status.error.split(separator: "\n").count == 1, "one line on stderr about the cluster: \(status.error)")
        }
    }
}
