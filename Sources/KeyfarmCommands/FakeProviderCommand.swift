import ArgumentParser
import Foundation
import KeyfarmFakeProvider
import KeyfarmWire
import Synchronization

/// `keyfarm fake-provider`: the loopback stand-in for the providers' APIs that tests use.
struct FakeProviderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-provider",
        abstract: "Serve a fake of the providers' published APIs on loopback, for tests.",
        discussion: """
            A real HTTP server speaking Luma Dream Machine (/dream-machine/v1/generations/video, \
            Bearer), Luma Agents ray-3.2 video (/v1/generations, Bearer), WaveSpeed \
            (POST /api/v3/{model}, GET /api/v3/predictions/{id}/result, Bearer) and fal.ai's \
            queue (POST /{model}, Key), rendering a real H.264 clip with ffmpeg for every \
            generation, from its start keyframe image to its end keyframe image. Point a worker \
            at it with KEYFARM_LUMA_API_URL=BASE/dream-machine/v1, \
            KEYFARM_LUMA_AGENTS_API_URL=BASE/v1, KEYFARM_WAVESPEED_API_URL=BASE/api/v3 and \
            KEYFARM_FAL_API_URL=BASE. Any \
            credential is accepted; none is ever logged. /_fake/requests lists what it received, \
            /_fake/billing what it billed, POST /_fake/faults injects faults \
            ({"next": [{"status": 429, "retry_after": 2}, {"malformed": true}, {"hang_ms": 5000}, \
            {"fail_generation": "moderation"}], "latency_ms": 0}), POST /_fake/reset forgets \
            everything, PUT /_fake/assets/NAME stores an image to serve. Prints its base URL on \
            standard output once it listens. SIGTERM or SIGINT stops it.
            """)

    @Option(help: ArgumentHelp("The IPv4 address and port to listen on; port 0 picks a free one.", valueName: "host:port"))
    var listen: String = "127.0.0.1:0"

    @Option(name: .customLong("step-ms"), help: ArgumentHelp(
        "Advance generations by time (queued, then dreaming after this long, completed after twice it) instead of one state per poll.",
        valueName: "ms"))
    var stepMilliseconds: Int?

    @Option(help: ArgumentHelp("Where to keep rendered clips (default: a new temporary directory).", valueName: "directory"))
    var directory: String?

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard Self.parse(listen) != nil else {
            throw ValidationError("--listen must be an IPv4 address and a port, e.g. 127.0.0.1:8089")
        }
        if let stepMilliseconds, !(0...3_600_000).contains(stepMilliseconds) {
            throw ValidationError("--step-ms must be between 0 and 3600000")
        }
    }

    static func parse(_ listen: String) -> (host: String, port: UInt16)? {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else { return nil }
        let host = String(listen[..<colon])
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return nil }
        return (host, port)
    }

    func run() throws {
        try reportingFailures {
            let logger = try common.logger(defaultLevel: "info")
            guard let (host, port) = Self.parse(listen) else { throw ValidationError("--listen: \(listen)") }
            let options = FakeProviderOptions(pacing: stepMilliseconds.map { .after(.milliseconds($0)) } ?? .perPoll,
                                              directory: directory)
            let stop = StopSignal()
            stop.installAsHandler()

            // The server lives on Swift concurrency; this thread only waits for a stop signal.
            let started = Outcome<Result<FakeProvider, any Error>>()
            Task {
                do {
                    started.set(.success(try await FakeProvider.start(host: host, port: port, options: options, logger: logger)))
                } catch {
                    started.set(.failure(error))
                }
            }
            let provider: FakeProvider
            switch started.wait() {
            case .success(let running): provider = running
            case .failure(let error):
                throw CommandFailure("cannot start the fake provider on \(listen): \(error)", status: ExitStatus.unavailable)
            }
            Console.current.print(provider.baseURL)
            Console.current.printError("keyfarm: fake provider listening on \(provider.baseURL) (clips in \(provider.directory))")

            var descriptor = pollfd(fd: stop.descriptor, events: Int16(POLLIN), revents: 0)
            while poll(&descriptor, 1, -1) <= 0 {}

            let stopped = Outcome<Void>()
            Task {
                await provider.stop(timeout: 1)
                stopped.set(())
            }
            stopped.wait()
            // A directory the fake chose itself is scratch; one the operator named is theirs.
            if directory == nil { try? FileManager.default.removeItem(atPath: provider.directory) }
            Console.current.printError("keyfarm: fake provider stopped")
        }
    }
}

/// A value handed from a task to a blocked thread, once.
final class Outcome<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func set(_ newValue: Value) {
        value.withLock { $0 = newValue }
        ready.signal()
    }

    func wait() -> Value {
        ready.wait()
        return value.withLock { $0! }
    }
}
