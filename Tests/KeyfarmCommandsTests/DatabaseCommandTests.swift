import Foundation
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmTestSupport
import Logging
import Testing

@Suite struct DatabaseCommandTests {
    static let logger = Logger(label: "keyfarm.commands-tests")

    func count(_ conninfo: String, _ sql: String) throws -> Int {
        let connection = try PostgresConnection(conninfo: conninfo, logger: Self.logger)
        defer { connection.close() }
        return try connection.execute(sql).rows[0].decode("n", as: Int.self)
    }

    @Test func migrateSubmitStatusCancel() throws {
        let db = try TestPostgres.freshDatabase()
        let migrate = keyfarm("migrate", "--database-url", db)
        #expect(migrate.status == 0, "\(migrate.error)")
        #expect(migrate.out.contains("applied migration 1"))
        let again = keyfarm("migrate", "--database-url", db)
        #expect(again.out.contains("the schema is up to date (version \(Migration.latestVersion))"))

        let submit = keyfarm("submit", example("demo.yaml"), "--database-url", db)
        #expect(submit.status == 0, "\(submit.error)")
        #expect(submit.out.hasPrefix("submitted shot list demo (project keyfarm-demo): 4 shots, 20 segments, 26 jobs"))
        // Ready at once: sh010's two segments, sh020/s0, the five sh030 segments that start on an image, and sh040/s0.
        #expect(try count(db, "SELECT count(*) AS n FROM keyfarm.jobs WHERE state = 'queued'") == 9)

        let twice = keyfarm("submit", example("demo.yaml"), "--database-url", db)
        #expect(twice.status == 65)
        #expect(twice.error.contains("already exists in project \"keyfarm-demo\""))
        #expect(twice.error.contains("--replace"))
        let replaced = keyfarm("submit", "--replace", "--json", example("demo.yaml"), "--database-url", db)
        #expect(replaced.status == 0, "\(replaced.error)")
        #expect(try replaced.json()["replaced_id"] as? Int == 1)

        let listing = keyfarm("status", "--json", "--database-url", db)
        #expect(listing.status == 0, "\(listing.error)")
        let lists = try #require(try listing.json()["shot_lists"] as? [[String: Any]])
        #expect(lists.count == 1)
        #expect(lists[0]["name"] as? String == "demo")
        #expect(lists[0]["state"] as? String == "queued")
        #expect(lists[0]["jobs_total"] as? Int == 26)

        let detail = keyfarm("status", "demo", "--json", "--database-url", db)
        #expect(detail.status == 0, "\(detail.error)")
        let shots = try #require(try detail.json()["shots"] as? [[String: Any]])
        #expect(shots.map { $0["id"] as? String } == ["sh010", "sh020", "sh030", "sh040"])
        let segments = try #require(shots[0]["segments"] as? [[String: Any]])
        #expect(segments.map { $0["state"] as? String } == ["queued", "queued"])
        #expect(segments.map { $0["progress"] as? Double } == [0, 0])
        #expect((shots[0]["stitch"] as? [String: Any])?["state"] as? String == "waiting")

        let table = keyfarm("status", "demo", "--database-url", db)
        #expect(table.out.contains("shot sh010: queued, 0%, 96 frames at 24 fps"))
        #expect(table.out.contains("stitch"))

        let cancel = keyfarm("cancel", "demo", "--database-url", db)
        #expect(cancel.status == 0, "\(cancel.error)")
        #expect(cancel.out.contains("cancelled shot list demo (id 2): 26 jobs cancelled"))
        #expect(keyfarm("status", "--json", "--database-url", db).out.contains("\"state\" : \"cancelled\""))
        let unknown = keyfarm("cancel", "nope", "--database-url", db)
        #expect(unknown.status == 66)
        #expect(unknown.error.contains("no shot list named \"nope\""))
    }

    @Test func anInvalidSubmitWritesNothing() throws {
        let db = try TestPostgres.freshDatabase()
        #expect(keyfarm("migrate", "--database-url", db).status == 0)
        let run = keyfarm("submit", example("invalid.yaml"), "--database-url", db)
        #expect(run.status == 65)
        #expect(run.error.contains("nothing was changed"))
        for table in ["shot_lists", "shots", "keyframes", "jobs"] {
            #expect(try count(db, "SELECT count(*) AS n FROM keyfarm.\(table)") == 0)
        }
    }

    @Test func theEnvironmentVariableNamesTheDatabase() throws {
        let db = try TestPostgres.freshDatabase()
        let run = keyfarm("migrate", "--json", environment: ["KEYFARM_DATABASE_URL": db])
        #expect(run.status == 0, "\(run.error)")
        #expect(try run.json()["version"] as? Int == Migration.latestVersion)
        #expect(!run.error.contains("embedded"))
    }

    @Test func anUnmigratedDatabaseOrAnUnreachableOneIsExplained() throws {
        let db = try TestPostgres.freshDatabase()
        let unmigrated = keyfarm("status", "--database-url", db)
        #expect(unmigrated.status == 78)
        #expect(unmigrated.error.contains("run `keyfarm migrate`"))
        let unreachable = keyfarm("status", "--database-url", "host=/nonexistent/socket/dir dbname=keyfarm connect_timeout=2")
        #expect(unreachable.status == 69)
        #expect(unreachable.error.contains("keyfarm: error: "))
        // A password in the URL never shows in the message.
        let secret = keyfarm("status", "--database-url", "postgresql://kf:hunter2@127.0.0.1:1/keyfarm?connect_timeout=2")
        #expect(secret.status == 69)
        #expect(!secret.error.contains("hunter2"))
    }
}
