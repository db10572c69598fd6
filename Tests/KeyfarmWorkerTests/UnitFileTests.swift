import Foundation
import KeyfarmTestSupport
import Testing

/// The systemd units in deploy/ as systemd itself reads them: `ops/scripts/verify-units` runs
/// `systemd-analyze verify` over them and fails on any warning.
@Suite struct UnitFileTests {
    static let packageRoot = URL(filePath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Where `systemd-analyze` is on $PATH, or nil: it ships in Debian's `systemd` package.
    static let systemdAnalyze: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/systemd-analyze" }
            .first { access($0, X_OK) == 0 }
    }()

    @Test(.enabled(if: UnitFileTests.systemdAnalyze != nil,
                   "systemd-analyze not found: install Debian's systemd package to check deploy/*.service"),
          .timeLimit(.minutes(1)))
    func unitsPassSystemdAnalyzeVerify() throws {
        let outcome = try TestProcess.run("\(Self.packageRoot)/ops/scripts/verify-units", [],
                                          environment: ProcessInfo.processInfo.environment,
                                          directory: Self.packageRoot, timeout: .seconds(50))
        #expect(!outcome.timedOut)
        #expect(outcome.status == 0, "verify-units failed:\n\(outcome.error)")
        #expect(outcome.error.isEmpty)
        #expect(outcome.out.contains("keyfarm-coordinator.service ok"))
        #expect(outcome.out.contains("keyfarm-worker.service ok"))
    }

    @Test func workerDrainsBeforeItIsKilled() throws {
        let unit = try String(contentsOfFile: "\(Self.packageRoot)/deploy/keyfarm-worker.service", encoding: .utf8)
        let lines = Set(unit.split(separator: "\n").map(String.init))
        for expected in ["Type=notify", "NotifyAccess=main", "KillMode=mixed", "KillSignal=SIGTERM",
                         "TimeoutStopSec=15min", "WatchdogSec=30", "User=keyfarm", "ReadWritePaths=/srv/keyfarm"] {
            #expect(lines.contains(expected), "keyfarm-worker.service lacks \(expected)")
        }
    }
}
