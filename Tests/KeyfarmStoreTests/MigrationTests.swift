import KeyfarmPostgres
import KeyfarmStore
import KeyfarmTestSupport
import Testing

@Suite struct MigrationTests {
    @Test func migratingTwiceAppliesOnceAndCreatesTheDashboardViews() throws {
        let store = try FarmStore(conninfo: try TestPostgres.freshDatabase(), logger: testLogger)
        #expect(try store.migrator.currentVersion() == 0)
        #expect(throws: StoreError.schemaBehind(current: 0, required: Migration.latestVersion)) {
            try store.migrator.requireCurrent()
        }
        let first = try store.migrator.migrate()
        #expect(first.map(\.version) == Migration.all.map(\.version))
        let second = try store.migrator.migrate()
        #expect(second.isEmpty)
        try store.migrator.requireCurrent()
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.schema_migrations") == Migration.all.count)
        for view in ["v_jobs", "v_attempts", "v_workers", "v_shot_progress", "v_credit_spend", "v_provider_accounts"] {
            #expect(try store.count("SELECT count(*) AS n FROM information_schema.views WHERE table_schema = 'keyfarm' AND table_name = $1", [view]) == 1)
        }
        // The dashboard role can read the views.
        #expect(try store.count("SELECT count(*) AS n FROM pg_roles WHERE rolname = 'keyfarm_dashboard'") == 1)
        #expect(try store.count("SELECT has_table_privilege('keyfarm_dashboard', 'keyfarm.v_jobs', 'SELECT')::int AS n") == 1)
    }

    @Test func workersAndJobsAreNeverDeletedNotEvenByTheirOwner() throws {
        let store = try FarmStore(conninfo: try TestPostgres.freshDatabase(), logger: testLogger)
        try store.migrator.migrate()
        _ = try store.enqueueSmoke(name: "kept", project: "p", count: 2, milliseconds: 0, failRate: 0, priority: 50,
                                   maxAttempts: 1, replace: false)
        try store.connection.execute("INSERT INTO keyfarm.workers (name) VALUES ('w1')")
        for statement in ["DELETE FROM keyfarm.jobs", "DELETE FROM keyfarm.workers WHERE name = 'w1'",
                          "TRUNCATE keyfarm.jobs CASCADE", "TRUNCATE keyfarm.workers CASCADE"] {
            let error = #expect(throws: PostgresError.self, "\(statement)") { try store.connection.execute(statement) }
            #expect(error?.sqlState == "23001", "\(statement): \(String(describing: error))")
            #expect(error?.message.contains("are never deleted") == true, "\(statement)")
        }
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.jobs") == 2)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.workers") == 1)
    }

    @Test func anEditedMigrationIsRefused() throws {
        let store = try FarmStore(conninfo: try TestPostgres.freshDatabase(), logger: testLogger)
        try store.migrator.migrate()
        try store.connection.execute("UPDATE keyfarm.schema_migrations SET checksum = 'edited' WHERE version = 1")
        #expect(throws: StoreError.migrationChanged(version: 1, name: "initial schema")) {
            try store.migrator.migrate()
        }
    }

    @Test func concurrentMigratorsSerialise() throws {
        let conninfo = try TestPostgres.freshDatabase()
        try withThreads(4) { _ in
            let store = try FarmStore(conninfo: conninfo, logger: testLogger)
            try store.migrator.migrate()
        }
        let store = try FarmStore(conninfo: conninfo, logger: testLogger)
        #expect(try store.count("SELECT count(*) AS n FROM keyfarm.schema_migrations") == Migration.all.count)
    }
}
