import Foundation
import KeyfarmTestSupport
import Testing

/// The short form of `make chaos`: `keyfarm chaos` on its own private PostgreSQL cluster,
/// fake provider, a leading and a standby coordinator and four workers, with worker SIGKILLs
/// every few seconds, two SIGKILLs of whichever coordinator leads and an abrupt PostgreSQL
/// restart, then its checks. The long form's
/// figures are in the README ("Chaos").
@Suite(.serialized) struct ChaosTests {
    /// The JSON line's keys, in the documented order.
    static let keys = ["jobs", "succeeded", "failed", "lost", "completed_twice", "billed_generations", "ledger_charges",
                       "clips", "clips_with_planned_frames", "takeovers", "takeover_seconds"]

    @Test func aShortChaosRunLosesNothingDoesNothingTwiceAndBillsEveryGenerationOnce() async throws {
        try await offPool {
            let binary = try builtKeyfarm()
            // Short: the cluster's socket path must fit in a sockaddr_un.
            let directory = "/tmp/kf-chaos-\(UUID().uuidString.prefix(8).lowercased())"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var environment = ProcessInfo.processInfo.environment
            environment.removeValue(forKey: "NOTIFY_SOCKET")
            environment.removeValue(forKey: "KEYFARM_DATABASE_URL")
            let outcome = try TestProcess.run(binary, [
                "chaos", "--duration", "30", "--lists", "2", "--workers", "4", "--kill-every", "3", "--seed", "7", "--coordinators", "2",
                "--settle", "600", "--directory", directory, "--refs", Refs.directory,
            ], environment: environment, timeout: .seconds(900))
            let report = "\(outcome.out)\n--- stderr\n\(outcome.error.suffix(4000))"
            #expect(!outcome.timedOut, "\(report)")
            #expect(outcome.status == 0, "\(report)")
            // The faults really happened.
            #expect(outcome.out.contains("SIGKILL chaos-worker-"), "\(report)")
            #expect(outcome.out.contains("SIGKILL the leader"), "\(report)")
            #expect(outcome.out.contains("PostgreSQL started again"), "\(report)")

            let last = try #require(outcome.out.split(separator: "\n").last.map(String.init), "\(report)")
            let numbers = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Double], "\(last)")
            let figures = numbers.mapValues { Int($0) }
            #expect(Set(figures.keys) == Set(Self.keys), "\(last)")
            let order = Self.keys.compactMap { last.range(of: "\"\($0)\"")?.lowerBound }
            #expect(order == order.sorted(), "keys in the documented order: \(last)")
            // Two lists of eleven jobs: four shots, seven segments and four stitches each.
            #expect(figures["jobs"] == 22, "\(last)")
            #expect(figures["lost"] == 0 && figures["completed_twice"] == 0, "\(report)")
            #expect(figures["succeeded"]! + figures["failed"]! == figures["jobs"], "\(last)")
            #expect(figures["billed_generations"] == figures["ledger_charges"], "\(report)")
            #expect(figures["billed_generations"]! > 0, "provider generations were billed: \(last)")
            #expect(figures["clips"] == figures["clips_with_planned_frames"], "\(report)")
            #expect(figures["clips"]! > 0, "\(last)")
            // Both kills of the leader were followed by the standby's takeover, within seconds.
            #expect(figures["takeovers"] == 2, "\(report)")
            #expect(numbers["takeover_seconds"]! > 0 && numbers["takeover_seconds"]! < 5, "\(last)")
            // Nothing it started is left running.
            let leftovers = try TestProcess.run("/usr/bin/pgrep", ["-f", directory], environment: environment)
            #expect(leftovers.out.isEmpty, "still running: \(leftovers.out)")
        }
    }

    @Test func badOptionsAndAForeignDirectoryAreRefusedBeforeAnythingStarts() async throws {
        try await offPool {
            let binary = try builtKeyfarm()
            let environment = ProcessInfo.processInfo.environment
            let rate = try TestProcess.run(binary, ["chaos", "--error-rate", "0.9", "--rate-limit-rate", "0.2"], environment: environment)
            #expect(rate.status == 64, "\(rate.error)")
            #expect(rate.error.contains("--error-rate and --rate-limit-rate"), "\(rate.error)")

            let foreign = NSTemporaryDirectory() + "kf-not-chaos-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: foreign) }
            try "precious".write(toFile: foreign + "/keep.txt", atomically: true, encoding: .utf8)
            let refused = try TestProcess.run(binary, ["chaos", "--directory", foreign], environment: environment)
            #expect(refused.status == 65, "\(refused.error)")
            #expect(refused.error.contains("not a keyfarm chaos folder"), "\(refused.error)")
            #expect(FileManager.default.fileExists(atPath: foreign + "/keep.txt"))
        }
    }
}
