import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import Testing

/// The database roles of migration 6, checked by logging in as a member of each and doing its work.
@Suite struct RoleTests {
    static let groups = ["keyfarm_coordinator", "keyfarm_operator", "keyfarm_dashboard"]

    /// The views ops/dashboards/SCHEMA.md documents: its `## \`keyfarm.v_...\`` headings.
    static func documentedViews() throws -> [String] {
        let schema = try String(contentsOf: repositoryRoot.appending(path: "ops/dashboards/SCHEMA.md"), encoding: .utf8)
        return schema.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("## `keyfarm."), let end = line.dropFirst(12).firstIndex(of: "`") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 12)..<end])
        }
    }

    @Test func migratingCreatesThreeGroupRolesThatCannotLogIn() throws {
        let (owner, _) = try freshOwnedStore()
        for group in Self.groups {
            let rows = try owner.connection.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [group]).rows
            #expect(rows.count == 1, "\(group) exists")
            #expect(try rows.first?.decode("rolcanlogin", as: Bool.self) == false, "\(group) is NOLOGIN")
        }
    }

    /// The deploy/README.md set-up: a DBA creates the roles, and a plain database owner (who
    /// may not create roles) migrates; the grants still apply.
    @Test func aPlainDatabaseOwnerMigratesAndGrantsTheRolesADBACreated() throws {
        let (superuser, conninfo) = try freshOwnedStore()
        let owner = try MemberLogin(of: nil, owner: superuser, databaseConninfo: conninfo)
        defer { try? owner.drop() }
        let database = "kf_owned_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        try superuser.connection.execute("CREATE DATABASE \(PostgresIdentifier.quoted(database)) OWNER \(PostgresIdentifier.quoted(owner.name))")
        defer { _ = try? superuser.connection.execute("DROP DATABASE IF EXISTS \(PostgresIdentifier.quoted(database))") }
        try {
            let store = try FarmStore(conninfo: try PostgresConninfo.replacingDatabase(in: owner.conninfo, with: database),
                                      logger: testLogger)
            defer { store.connection.close() }
            #expect(try store.migrate().count == Migration.all.count)
            func granted(_ role: String, _ relation: String, _ privilege: String) throws -> Bool {
                try store.connection.execute("SELECT has_table_privilege($1, $2, $3) AS granted", [role, relation, privilege])
                    .rows[0].decode("granted", as: Bool.self)
            }
            #expect(try granted("keyfarm_dashboard", "keyfarm.v_budgets", "SELECT"))
            #expect(try !granted("keyfarm_dashboard", "keyfarm.prices", "SELECT"))
            #expect(try granted("keyfarm_coordinator", "keyfarm.attempts", "INSERT"))
            #expect(try granted("keyfarm_operator", "keyfarm.shot_lists", "INSERT"))
            #expect(try granted("keyfarm_coordinator", "keyfarm.worker_keys", "SELECT"))
            #expect(try !granted("keyfarm_coordinator", "keyfarm.worker_keys", "INSERT"))
            #expect(try granted("keyfarm_operator", "keyfarm.worker_keys", "DELETE"))
            #expect(try !granted("keyfarm_operator", "keyfarm.worker_keys", "UPDATE"))
            #expect(try !granted("keyfarm_dashboard", "keyfarm.worker_keys", "SELECT"))
        }()
    }

    @Test func everyViewIsDocumentedAndEveryDocumentedViewExists() throws {
        let (owner, _) = try freshOwnedStore()
        let views = try owner.connection.execute("SELECT viewname FROM pg_views WHERE schemaname = 'keyfarm' ORDER BY 1")
            .rows.map { try $0.decode("viewname", as: String.self) }
        #expect(try Self.documentedViews().sorted() == views)
        #expect(views.count >= 8)
    }

    @Test func theDashboardReadsEveryDocumentedViewAndNoTableAndWritesNothing() throws {
        let (owner, conninfo) = try freshOwnedStore()
        _ = try FarmScenario.populate(operator: owner, coordinator: owner)
        let login = try MemberLogin(of: "keyfarm_dashboard", owner: owner, databaseConninfo: conninfo)
        defer { try? login.drop() }
        try {
            let dashboard = try login.store()
            defer { dashboard.connection.close() }
            for view in try Self.documentedViews() {
                let rows = try dashboard.connection.execute("SELECT * FROM keyfarm.\(view)").rows
                #expect(!rows.isEmpty, "keyfarm.\(view) has rows in the scenario")
                for privilege in ["INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"] {
                    #expect(try !has(dashboard, "has_table_privilege('keyfarm.\(view)', '\(privilege)')"), "\(privilege) on \(view)")
                }
                // A view of joins refuses writes before privileges are checked (55000); the
                // privilege checks above are what matter there.
                expectDenied("DELETE FROM \(view)", also: ["55000"]) { try dashboard.connection.execute("DELETE FROM keyfarm.\(view)") }
                let column = try firstColumn(owner, view)
                expectDenied("UPDATE \(view)", also: ["55000"]) {
                    try dashboard.connection.execute("UPDATE keyfarm.\(view) SET \(column) = \(column)")
                }
            }
            let tables = try owner.connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'keyfarm' ORDER BY 1")
                .rows.map { try $0.decode("tablename", as: String.self) }
            #expect(tables.contains("jobs") && tables.contains("prices") && tables.contains("project_budgets"))
            for table in tables {
                let column = try firstColumn(owner, table)
                for privilege in ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"] {
                    #expect(try !has(dashboard, "has_table_privilege('keyfarm.\(table)', '\(privilege)')"), "\(privilege) on \(table)")
                }
                expectDenied("SELECT from \(table)") { try dashboard.connection.execute("SELECT * FROM keyfarm.\(table) LIMIT 1") }
                expectDenied("INSERT into \(table)") { try dashboard.connection.execute("INSERT INTO keyfarm.\(table) DEFAULT VALUES") }
                expectDenied("UPDATE \(table)") {
                    try dashboard.connection.execute("UPDATE keyfarm.\(table) SET \(column) = \(column)")
                }
                expectDenied("DELETE FROM \(table)") { try dashboard.connection.execute("DELETE FROM keyfarm.\(table)") }
            }
            let sequences = try owner.connection.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'keyfarm'")
                .rows.map { try $0.decode("sequencename", as: String.self) }
            #expect(!sequences.isEmpty)
            for sequence in sequences {
                #expect(try !has(dashboard, "has_sequence_privilege('keyfarm.\(sequence)', 'USAGE,SELECT,UPDATE')"), "\(sequence)")
            }
            #expect(try !has(dashboard, "has_schema_privilege('keyfarm', 'CREATE')"))
            expectDenied("CREATE TABLE") { try dashboard.connection.execute("CREATE TABLE keyfarm.mine (x int)") }
        }()
    }

    @Test func theOperatorRunsTheCLIsStatementsButNotTheCoordinators() throws {
        let (owner, conninfo) = try freshOwnedStore()
        let login = try MemberLogin(of: "keyfarm_operator", owner: owner, databaseConninfo: conninfo)
        defer { try? login.drop() }
        try {
            let op = try login.store()
            defer { op.connection.close() }
            try op.migrator.requireCurrent()
            // submit, status, a budget, a cancel: the scenario's CLI half, with the owner as coordinator.
            _ = try FarmScenario.populate(operator: op, coordinator: owner)
            #expect(try op.shotLists().map(\.name).sorted() == ["chained", "dropped", "finished", "tight", "wide"])
            #expect(try op.outputs(name: "finished", project: nil).outputs.map(\.format) == ["mp4", "manifest"])
            #expect(try op.shotListDetail(name: "wide", project: nil).jobs.count == 8)
            #expect(try op.shotListDetail(name: "tight", project: nil).jobs.contains { $0.state == "blocked" })
            // submit --replace retires the old list (its attempts, reservations and jobs).
            let replaced = try op.submit(try planned(chainedList), sourcePath: "/chained.yaml", sourceText: "c2", replace: true)
            #expect(replaced.replacedID != nil)
            // retry, budget, prices, credits, providers, workers, drain, smoke.
            #expect(try op.retryFailed(name: "wide", project: nil, jobKey: nil) >= 1)
            _ = try op.setBudget(shotList: "tight", project: nil, credits: 500)
            #expect(try op.shotListDetail(name: "tight", project: nil).jobs.allSatisfy { $0.state != "blocked" })
            try op.setBudget(project: "default", credits: nil)
            try op.setBudget(project: "default", credits: 2_000)
            #expect(try op.projectBudgets().map(\.project) == ["default"])
            try op.setPrice(engine: "luma/ray-2", resolution: .p720, durationBucket: 5, credits: 80, note: "negotiated")
            #expect(try op.removePrice(engine: "luma/ray-2", resolution: .p540, durationBucket: 5))
            try op.setUSDPerCredit(0.012)
            #expect(try op.usdPerCredit() == 0.012)
            for grouping in CreditGrouping.allCases { _ = try op.creditSummary(by: grouping) }
            try op.setProviderAccount("luma", FarmStore.ProviderAccountChange(maxConcurrent: .some(4)))
            #expect(try op.providerAccounts().first { $0.provider == "luma" }?.maxConcurrent == 4)
            #expect(try op.workers().map(\.name) == ["render-01", "render-02"])
            #expect(try op.setDraining(workerName: "render-01", true))
            #expect(try op.isDraining(workerName: "render-01"))
            _ = try op.enqueueSmoke(name: "smoke", project: "ops", count: 3, milliseconds: 1, failRate: 0, priority: 50,
                                    maxAttempts: 1, replace: false)
            _ = try op.cancel(name: "wide", project: nil)
            // keys add, list, remove (migration 8), each announced to coordinators.
            try op.connection.listen(FarmStore.keysChannel)
            let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
            #expect(try op.addWorkerKey(name: "render-07", publicKey: key, comment: "rack 3").addedBy == login.name)
            #expect(try op.workerKeys().map(\.publicKey) == [key])
            #expect(throws: WorkerKeyConflict.nameTaken(name: "render-07", publicKey: key)) {
                try op.addWorkerKey(name: "render-07", publicKey: "0000000000000000000000000000000000000000", comment: "")
            }
            #expect(throws: WorkerKeyConflict.keyAllowed(name: "render-07", publicKey: key)) {
                try op.addWorkerKey(name: "other", publicKey: key, comment: "")
            }
            #expect(try op.removeWorkerKey(key)?.name == "render-07")
            #expect(try op.removeWorkerKey("render-07") == nil)
            #expect(try op.connection.pollNotifications().filter { $0.channel == FarmStore.keysChannel }.map(\.payload)
                    == ["added:render-07", "removed:render-07"])
            // The table's checks hold whoever writes: no malformed key or name gets in.
            for (name, publicKey) in [("bad", String(repeating: "~", count: 40)), ("short", "0123"),
                                      ("a/b", "1111111111111111111111111111111111111111")] {
                do {
                    try op.addWorkerKey(name: name, publicKey: publicKey, comment: "")
                    Issue.record("\(name) \(publicKey): allowed, expected a check violation")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "23514", "\(error)")
                }
            }
            #expect(try op.addWorkerKey(name: "z85-edges", publicKey: "]0aZ.-:+=^!/*?&<>()[{}@%$#99999999999999", comment: "")
                .name == "z85-edges")
            // watch and logs.
            let snapshot = try op.watchSnapshot(listIDs: try op.activeShotListIDs())
            #expect(!snapshot.lists.isEmpty)
            let attempted = try #require(try op.connection.execute("SELECT job_id, attempt FROM keyfarm.attempts ORDER BY id LIMIT 1")
                .rows.first)
            let jobID: Int64 = try attempted.decode("job_id")
            #expect(try !op.attempts(jobID: jobID).isEmpty)
            #expect(try op.resolveJob("\(jobID)", project: nil).id == jobID)
            try op.connection.listen(FarmStore.progressChannel)

            // Not the coordinator's work, and not the schema's owner's.
            let worker = try owner.registerWorker(name: "render-03", host: nil, version: nil, engines: ["*"], slots: 1)
            expectDenied("claim") { _ = try op.claim(workerID: worker, capabilities: ["smoke"], limit: 1, leaseSeconds: 30) }
            expectDenied("register a worker") {
                _ = try op.connectWorker(name: "rogue", host: nil, version: nil, engines: ["*"], slots: 1, instance: nil)
            }
            expectDenied("store attempt logs") {
                try op.recordAttemptLogs([(ref: AttemptRef(jobID: jobID, attempt: try attempted.decode("attempt")), tail: "forged",
                                           droppedLines: 0)])
            }
            expectDenied("delete jobs") { try op.connection.execute("DELETE FROM keyfarm.jobs") }
            expectDenied("edit the ledger") { try op.connection.execute("UPDATE keyfarm.credit_ledger SET credits = 0") }
            expectDenied("migrate") { try op.connection.execute("CREATE TABLE keyfarm.extra (x int)") }
            expectDenied("edit migrations") { try op.connection.execute("DELETE FROM keyfarm.schema_migrations") }
        }()
    }

    @Test func theCoordinatorRunsTheFarmButCannotSubmitOrChangeWhatOperatorsSet() throws {
        let (owner, conninfo) = try freshOwnedStore()
        let login = try MemberLogin(of: "keyfarm_coordinator", owner: owner, databaseConninfo: conninfo)
        defer { try? login.drop() }
        try {
            let coordinator = try login.store()
            defer { coordinator.connection.close() }
            try coordinator.migrator.requireCurrent()
            try coordinator.connection.listen(FarmStore.jobsChannel)
            try coordinator.connection.listen(FarmStore.workersChannel)
            // claim, accept, progress, provider requests, results with charges and refunds, the blocklist.
            let scenario = try FarmScenario.populate(operator: owner, coordinator: coordinator)
            #expect(try !coordinator.connection.pollNotifications().isEmpty)
            let leases = try coordinator.leases()
            #expect(leases.count == 1)
            #expect(try coordinator.leases(workerID: scenario.renderOne).count == 1)
            let lease = try #require(leases.first)
            _ = try coordinator.handBack(jobID: lease.ref.jobID, attempt: lease.ref.attempt, providerRequestID: nil, fresh: true)
            // A provider that stopped the account: the coordinator suspends it (an operator resumes it).
            try coordinator.suspendProvider("wavespeed", reason: "wavespeed answered budget_exhausted")
            #expect(try coordinator.providerAccounts().first { $0.provider == "wavespeed" }?.suspendedAt != nil)
            #expect(try owner.resumeProvider("wavespeed"))
            let again = try coordinator.claim(slots: [scenario.renderOne, scenario.renderTwo], capabilities: ["interpolate"],
                                              leaseSeconds: 60)
            try #require(again.count == 2)
            let done = try coordinator.completeSuccesses([(ref: AttemptRef(jobID: again[0].job.jobID, attempt: again[0].job.attempt),
                                                           artifactPath: "x.png", artifactSHA256: "00", artifactsJSON: "[]",
                                                           receivedAtMicroseconds: 0, reusedFromAttemptID: 0)])
            #expect(done == 1)
            try coordinator.recordAttemptLogs([(ref: AttemptRef(jobID: again[0].job.jobID, attempt: again[0].job.attempt),
                                                tail: "12:00:00.000 info frames written", droppedLines: 0)])
            #expect(try coordinator.attempts(jobID: again[0].job.jobID).last?.log?.text == "12:00:00.000 info frames written")
            // Log retention (migration 11): the coordinator may empty old tails.
            #expect(try coordinator.pruneAttemptLogs(olderThan: 86_400, limit: 10) == 0)
            try coordinator.announceProgress(jobIDs: [again[0].job.jobID])
            _ = try coordinator.completeFailure(jobID: again[1].job.jobID, attempt: again[1].job.attempt, errorClass: .lost,
                                                error: "worker render-02 lost", retryAfter: 0)
            _ = try owner.cancel(name: "chained", project: nil)
            let chained = try owner.resolveShotList(name: "chained", project: nil)
            #expect(try !coordinator.cancelledJobIDs(shotListID: chained.id).isEmpty)
            #expect(try coordinator.isDraining(workerName: "render-01") == false)
            // High availability (migration 16): the lease, its renewal and fence, and the coordinators seen.
            let me = CoordinatorIdentity(instance: "c1", host: "h", pid: 1, endpoint: "tcp://h:5555", version: "t")
            #expect(try coordinator.tryLease(me, seconds: 2) == .heldByOther(endpoint: "tcp://coord-a:5555", epoch: 1))
            try coordinator.releaseLease(instance: "scenario-leader", epoch: 1)
            #expect(try coordinator.tryLease(me, seconds: 2) == .acquired(epoch: 2))
            #expect(try coordinator.renewLease(instance: "c1", epoch: 2, seconds: 2))
            try coordinator.connection.transaction { connection in try FarmStore.fence(connection, instance: "c1", epoch: 2) }
            try coordinator.markCoordinator(instance: "c1", stopped: false)
            #expect(try coordinator.forgetCoordinators(olderThan: 86_400) == 0)
            #expect(try coordinator.coordinators(within: nil).map(\.role) == ["leader", "standby"])
            try coordinator.releaseLease(instance: "c1", epoch: 2)

            // Not the CLI's work.
            expectDenied("submit") {
                _ = try coordinator.submit(try planned(wideList(name: "sneaky", shots: 1, segments: 1)), sourcePath: "/s.yaml",
                                           sourceText: "", replace: false)
            }
            expectDenied("set a price") {
                try coordinator.setPrice(engine: "luma/ray-2", resolution: .p720, durationBucket: 5, credits: 1, note: "")
            }
            expectDenied("set a budget") { try coordinator.setBudget(project: "default", credits: 1) }
            // It reads the allow-list of worker keys, and never changes it.
            try owner.addWorkerKey(name: "render-07", publicKey: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", comment: "")
            #expect(try coordinator.workerKeys().map(\.name) == ["render-07"])
            expectDenied("allow a worker key") {
                try coordinator.addWorkerKey(name: "rogue", publicKey: "0000000000000000000000000000000000000000", comment: "")
            }
            expectDenied("remove a worker key") { _ = try coordinator.removeWorkerKey("render-07") }
            expectDenied("change a provider's limits") {
                try coordinator.setProviderAccount("luma", FarmStore.ProviderAccountChange(maxConcurrent: .some(100)))
            }
            expectDenied("delete attempts") { try coordinator.connection.execute("DELETE FROM keyfarm.attempts") }
            expectDenied("edit the ledger") { try coordinator.connection.execute("DELETE FROM keyfarm.credit_ledger") }
            expectDenied("migrate") { try coordinator.connection.execute("CREATE TABLE keyfarm.extra (x int)") }
        }()
    }

    private func firstColumn(_ owner: FarmStore, _ relation: String) throws -> String {
        try owner.connection.execute("SELECT attname FROM pg_attribute WHERE attrelid = ('keyfarm.' || $1)::regclass AND attnum = 1",
                                     [relation]).rows[0].decode("attname", as: String.self)
    }

    private func has(_ store: FarmStore, _ expression: String) throws -> Bool {
        try store.connection.execute("SELECT \(expression) AS granted").rows[0].decode("granted", as: Bool.self)
    }
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
