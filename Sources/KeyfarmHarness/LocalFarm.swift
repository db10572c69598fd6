import Foundation
import KeyfarmFakeProvider
import KeyfarmProcess

/// A farm of real processes on this machine's loopback: what `keyfarm demo` and `keyfarm chaos`
/// start (the fake provider, a coordinator, workers offering every engine).
public enum LocalFarm {
    /// Keys the fake accepts and never checks; they reach the workers only through their environment.
    public static let fakeKeys = ["LUMA_API_KEY": "demo-luma-key", "FAL_KEY": "demo-fal-key", "WAVESPEED_API_KEY": "demo-wavespeed-key"]

    /// A local worker's environment: the fake's keys and endpoints, and no database URL
    /// (workers never touch the database).
    public static func workerEnvironment(_ environment: [String: String], fakeURL: String) -> [String: String] {
        var workerEnvironment = environment
        workerEnvironment.removeValue(forKey: "KEYFARM_DATABASE_URL")
        for (name, value) in fakeKeys { workerEnvironment[name] = value }
        workerEnvironment.merge(FakeProvider.endpointEnvironment(baseURL: fakeURL)) { $1 }
        return workerEnvironment
    }

    /// A local worker offering every engine the demo and chaos lists use, serving keyframes to
    /// the fake from its own loopback port.
    /// `encodePreset` is the stitcher's x264 preset (`keyfarm worker --encode-preset`).
    public static func workerArguments(endpoint: String, name: String, slots: Int, storage: String, artifactPort: Int,
                                       encodePreset: String = "medium") -> [String] {
        ["worker", "--connect", endpoint, "--name", name, "--slots", "\(slots)",
         "--engines", "interpolate,stitch,luma/*,fal/*,wavespeed/*", "--storage", storage,
         "--serve-artifacts", "127.0.0.1:\(artifactPort)", "--public-url", "http://127.0.0.1:\(artifactPort)",
         "--poll-ms", "250", "--encode-preset", encodePreset]
    }

    /// Waits (up to 20 s) until something accepts connections on 127.0.0.1:`port`.
    public static func waitForListener(port: Int, daemon: BackgroundProcess) throws {
        for _ in 0..<400 {
            if LoopbackPort.isListening(port) { return }
            guard daemon.isRunning else { break }
            usleep(50_000)
        }
        throw HarnessFailure("demo: \(daemon.name) did not start listening on 127.0.0.1:\(port); the end of \(daemon.logPath):\n\(daemon.logTail())", status: HarnessFailure.failure)
    }
}
