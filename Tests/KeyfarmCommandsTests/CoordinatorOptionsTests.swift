import Foundation
@testable import KeyfarmCommands
import KeyfarmCore
import KeyfarmTestSupport
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
