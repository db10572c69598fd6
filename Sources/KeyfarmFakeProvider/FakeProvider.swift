import FlyingFox
import Foundation
import KeyfarmProviders
import Logging

/// The one stand-in Keyfarm's tests may use: a real HTTP server on loopback that speaks the
/// providers' published APIs (Luma Dream Machine under `/dream-machine/v1`, Luma Agents' ray-3.2
/// video under `/v1`, WaveSpeed under `/api/v3`, fal.ai's queue at the root), renders a real
/// H.264 clip for every generation with ffmpeg, and lets a test inject faults and read what it
/// received under `/_fake`.
public final class FakeProvider: Sendable {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    public let baseURL: String
    /// The port the server listens on (useful after asking for port 0).
    public let port: UInt16
    /// Where clips, fetched keyframes and uploaded assets live.
    public let directory: String
    let server: HTTPServer
    let state: FakeProviderState
    let logger: Logger
    private let task: Task<Void, any Error>

    private init(baseURL: String, port: UInt16, directory: String, server: HTTPServer, state: FakeProviderState,
                 logger: Logger, task: Task<Void, any Error>) {
        self.baseURL = baseURL
        self.port = port
        self.directory = directory
        self.server = server
        self.state = state
        self.logger = logger
        self.task = task
    }

    /// Starts listening on `host:port` (port 0 picks a free one) and returns once it accepts connections.
    public static func start(host: String = "127.0.0.1", port: UInt16 = 0, options: FakeProviderOptions = .init(),
                             logger: Logger) async throws -> FakeProvider {
        let directory: String
        if let chosen = options.directory {
            directory = chosen
        } else {
            directory = NSTemporaryDirectory() + "keyfarm-fake-provider-\(UUID().uuidString.lowercased())"
        }
        try FileManager.default.createDirectory(atPath: directory + "/assets", withIntermediateDirectories: true)
        let state = FakeProviderState(options: options,
                                      renderer: FakeVideoRenderer(directory: directory, logger: logger), logger: logger)
        let address: sockaddr_in
        do {
            address = try sockaddr_in.inet(ip4: host, port: port)
        } catch {
            throw FakeProviderError("cannot listen on \(host):\(port): \(host) is not an IPv4 address")
        }
        let server = HTTPServer(address: address, timeout: 60, logger: .disabled)
        let router = Router(state: state, logger: logger, directory: directory)
        await server.appendRoute("*") { request in await router.handle(request) }
        let task = Task { try await server.run() }
        do {
            try await server.waitUntilListening(timeout: 5)
        } catch {
            task.cancel()
            throw FakeProviderError("cannot listen on \(host):\(port): \(error)")
        }
        guard case .ip4(_, let actualPort)? = await server.listeningAddress else {
            task.cancel()
            throw FakeProviderError("the server reports no IPv4 listening address")
        }
        return FakeProvider(baseURL: "http://\(host):\(actualPort)", port: actualPort, directory: directory,
                            server: server, state: state, logger: logger, task: task)
    }

    /// Stops listening and waits (at most `timeout` seconds) for open connections to finish.
    public func stop(timeout: TimeInterval = 1) async {
        await server.stop(timeout: timeout)
        task.cancel()
    }

    /// Waits until the server task ends (after `stop`, or when it fails); rethrows its failure.
    public func waitUntilStopped() async throws {
        try await task.value
    }
}

/// Why the fake could not start.
public struct FakeProviderError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension FakeProvider {
    /// The environment that points a worker's provider endpoints (`ProviderEndpoints`) at a
    /// fake listening at `baseURL`, each API under the path this server serves it at.
    public static func endpointEnvironment(baseURL: String) -> [String: String] {
        let names = ProviderEndpoints.variables
        return [names.lumaDreamMachine: baseURL + "/dream-machine/v1", names.lumaAgents: baseURL + "/v1",
                names.fal: baseURL, names.wavespeed: baseURL + "/api/v3"]
    }
}
