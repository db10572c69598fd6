import Foundation
@testable import KeyfarmCommands
import KeyfarmCore
import KeyfarmStore
import KeyfarmTestSupport
import Logging
import Testing

/// `keyfarm coordinator --attempt-timeout / --stall-timeout / --log-retention` and their
/// environment variables.
@Suite struct CoordinatorOptionsTests {
    @Test func optionsApplyAfterTheEnvironment() throws {
        let command = try CoordinatorCommand.parse([
            "--attempt-timeout", "interpolate=10m", "--attempt-timeout", "90", "--attempt-timeout", "luma=45m",
            "--stall-timeout", "2s",
        ])
        let timeouts = try command.timeouts(environment: ["KEYFARM_ATTEMPT_TIMEOUTS": "luma=30m,stitch=1h 3h",
                                                          "KEYFARM_STALL_TIMEOUT": "10m"])
        #expect(timeouts.limits == ["interpolate": 600, "luma": 2700, "stitch": 3600])
        #expect(timeouts.defaultLimit == 90)
        #expect(timeouts.stallAfter == 2)
        let defaults = try CoordinatorCommand.parse([]).timeouts(environment: [:])
        #expect(defaults == AttemptTimeouts(defaultLimit: 7200, limits: [:], stallAfter: 300))
        let fromEnvironment = try CoordinatorCommand.parse([]).timeouts(environment: ["KEYFARM_STALL_TIMEOUT": "0"])
        #expect(fromEnvironment.stallAfter == nil)
    }

    @Test func badValuesExit64NamingTheOptionAndTheValue() {
        let engine = keyfarm("coordinator", "--attempt-timeout", "interpolat=10m")
        #expect(engine.status == 64)
        #expect(engine.error.contains("--attempt-timeout: \"interpolat\" in \"interpolat=10m\" is not an engine"), "\(engine.error)")
        let duration = keyfarm("coordinator", "--attempt-timeout", "luma=10 minutes")
        #expect(duration.status == 64)
        #expect(duration.error.contains("\"10 minutes\" for luma is not a duration"), "\(duration.error)")
        let stall = keyfarm("coordinator", "--stall-timeout=-5s")
        #expect(stall.status == 64)
        #expect(stall.error.contains("--stall-timeout: \"-5s\" for the stall timeout is not a duration"), "\(stall.error)")
        let environment = keyfarm("coordinator", environment: ["KEYFARM_ATTEMPT_TIMEOUTS": "interpolate=10m luma=forever"])
        #expect(environment.status == 64)
        #expect(environment.error.contains("KEYFARM_ATTEMPT_TIMEOUTS: \"forever\" for luma is not a duration"), "\(environment.error)")
    }

    @Test func logRetentionComesFromTheOptionThenTheEnvironmentThenThirtyDays() throws {
        #expect(try CoordinatorCommand.parse([]).retention(environment: [:]) == 30 * 86_400)
        #expect(try CoordinatorCommand.parse([]).retention(environment: ["KEYFARM_LOG_RETENTION": "90d"]) == 90 * 86_400)
        #expect(try CoordinatorCommand.parse(["--log-retention", "12h"]).retention(environment: ["KEYFARM_LOG_RETENTION": "90d"]) == 43_200)
        #expect(try CoordinatorCommand.parse(["--log-retention", "0"]).retention(environment: [:]) == nil, "0 keeps logs for ever")
        #expect(try CoordinatorCommand.parse(["--log-retention", "3650d"]).retention(environment: [:]) == 3650 * 86_400)

        let tooLong = keyfarm("coordinator", "--log-retention", "3651d")
        #expect(tooLong.status == 64)
        #expect(tooLong.error.contains("--log-retention: \"3651d\" is not a duration such as 30d, 12h or 0 (at most 3650d)"),
                "\(tooLong.error)")
        let environment = keyfarm("coordinator", environment: ["KEYFARM_LOG_RETENTION": "a month"])
        #expect(environment.status == 64)
        #expect(environment.error.contains("KEYFARM_LOG_RETENTION: \"a month\" is not a duration"), "\(environment.error)")
    }

    @Test func theBinaryRefusesABadStallTimeoutBeforeTouchingAnything() async throws {
        try await offPool {
            var environment = ProcessInfo.processInfo.environment
            environment["KEYFARM_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
            let run = try runBinary(["coordinator", "--stall-timeout", "5 minutes"], environment: environment)
            #expect(run.status == 64)
            #expect(run.error.contains("--stall-timeout: \"5 minutes\" for the stall timeout is not a duration"), "\(run.error)")
        }
    }
}

/// High availability's options: `--advertise`, `--leader-lease`, a worker's `--connect` list,
/// and `keyfarm coordinators`.
@Suite struct HighAvailabilityOptionsTests {
    @Test func badEndpointsAndLeasesExit64NamingThem() {
        let wildcard = keyfarm("coordinator", "--advertise", "tcp://0.0.0.0:5555")
        #expect(wildcard.status == 64)
        #expect(wildcard.error.contains("--advertise: \"tcp://0.0.0.0:5555\" is not an endpoint workers can connect to"), "\(wildcard.error)")
        let lease = keyfarm("coordinator", "--leader-lease", "0.1")
        #expect(lease.status == 64)
        #expect(lease.error.contains("--leader-lease must be between 0.2 and 60 seconds"), "\(lease.error)")
        let list = keyfarm("worker", "--connect", "tcp://a:5555,,tcp://b:5555")
        #expect(list.status == 64)
        #expect(list.error.contains("--connect: \"\" is not an endpoint to connect to"), "\(list.error)")
        let port = keyfarm("worker", "--connect", "tcp://a:5555,tcp://b")
        #expect(port.status == 64)
        #expect(port.error.contains("--connect: \"tcp://b\" is not an endpoint"), "\(port.error)")
    }

    @Test func endpointsWorkersCanReach() {
        #expect(CoordinatorCommand.isConnectable("tcp://coord-a.example.com:5555"))
        #expect(CoordinatorCommand.isConnectable("tcp://127.0.0.1:5555"))
        #expect(CoordinatorCommand.isConnectable("tcp://[::1]:5555"))
        #expect(CoordinatorCommand.isConnectable("ipc:///run/keyfarm.sock"))
        #expect(!CoordinatorCommand.isConnectable("tcp://*:5555"))
        #expect(!CoordinatorCommand.isConnectable("tcp://coord:0"))
        #expect(!CoordinatorCommand.isConnectable("coord:5555"))
    }

    @Test func coordinatorsListsTheLeaderFirstAsATableOrJSON() throws {
        let database = try TestPostgres.freshDatabase()
        #expect(keyfarm("migrate", environment: ["KEYFARM_DATABASE_URL": database]).status == 0)
        let empty = keyfarm("coordinators", environment: ["KEYFARM_DATABASE_URL": database])
        #expect(empty.status == 0)
        #expect(empty.out.contains("no coordinator seen in the last day"), "\(empty.out)")
        let store = try FarmStore(conninfo: database, logger: Logger(label: "test"))
        _ = try store.tryLease(CoordinatorIdentity(instance: "i-a", host: "coord-a", pid: 10, endpoint: "tcp://coord-a:5555",
                                                   version: "0.1.0"), seconds: 600)
        _ = try store.tryLease(CoordinatorIdentity(instance: "i-b", host: "coord-b", pid: 20, endpoint: "tcp://coord-b:5555",
                                                   version: "0.1.0"), seconds: 600)
        let table = keyfarm("coordinators", environment: ["KEYFARM_DATABASE_URL": database])
        #expect(table.status == 0, "\(table.error)")
        let lines = table.out.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ENDPOINT") == true && lines.count == 3, "\(table.out)")
        #expect(lines[1].contains("tcp://coord-a:5555") && lines[1].contains("leader"), "\(table.out)")
        #expect(lines[2].contains("tcp://coord-b:5555") && lines[2].contains("standby"), "\(table.out)")
        let json = keyfarm("coordinators", "--json", environment: ["KEYFARM_DATABASE_URL": database])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: [[String: Any]]])
        let rows = try #require(document["coordinators"])
        #expect(rows.map { $0["role"] as? String } == ["leader", "standby"])
        #expect(rows.first?["epoch"] as? Int == 1 && rows.last?["epoch"] == nil, "a standby that never led has no epoch")
        #expect(Set(rows[0].keys) == ["instance", "host", "pid", "endpoint", "version", "role", "epoch", "since", "last_seen_at",
                                      "started_at"])
        // Nobody leads once the lease has run out: said on standard error.
        try store.connection.execute("UPDATE keyfarm.coordinator_lease SET expires_at = now() - interval '1 second'")
        let leaderless = keyfarm("coordinators", environment: ["KEYFARM_DATABASE_URL": database])
        #expect(leaderless.error.contains("no coordinator leads"), "\(leaderless.error)")
    }
}
