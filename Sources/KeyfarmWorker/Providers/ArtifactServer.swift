import FlyingFox
import Foundation
import Logging

/// The worker's built-in artifact server (`keyfarm worker --serve-artifacts ADDR --public-url
/// URL`): serves the files this worker signed URLs for, and nothing else, to providers that
/// fetch keyframes by URL. Every request is checked against its signature and expiry.
public final class ArtifactServer: Sendable {
    public let signer: URLSigner
    /// The address it listens on, `host:port` (the port resolved when 0 was asked for).
    public let address: String
    private let server: HTTPServer
    private let task: Task<Void, any Error>

    /// The most bytes one artifact may have (keyframes and last frames are far smaller).
    public static let maxBytes = 64 << 20

    private init(signer: URLSigner, address: String, server: HTTPServer, task: Task<Void, any Error>) {
        self.signer = signer
        self.address = address
        self.server = server
        self.task = task
    }

    /// Starts listening on `listen` (`host:port`, IPv4) and returns once it accepts connections.
    public static func start(listen: String, publicURL: String, lifetime: Duration = .seconds(3600),
                             listenTimeout: TimeInterval = 5, logger: Logger) async throws -> ArtifactServer {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            throw ArtifactServerError("--serve-artifacts \(listen.debugDescription) is not HOST:PORT")
        }
        let host = String(listen[..<colon])
        let address: sockaddr_in
        do {
            address = try sockaddr_in.inet(ip4: host, port: port)
        } catch {
            throw ArtifactServerError("--serve-artifacts \(listen.debugDescription): \(host) is not an IPv4 address")
        }
        let signer = URLSigner(publicURL: publicURL, lifetime: lifetime)
        let server = HTTPServer(address: address, timeout: 30, logger: .disabled)
        await server.appendRoute("*") { request in await Self.handle(request, signer: signer, logger: logger) }
        let task = Task { try await server.run() }
        do {
            try await server.waitUntilListening(timeout: listenTimeout)
        } catch {
            task.cancel()
            throw ArtifactServerError("cannot listen on \(listen) for artifacts: \(error)")
        }
        guard case .ip4(_, let actualPort)? = await server.listeningAddress else {
            task.cancel()
            throw ArtifactServerError("the artifact server reports no IPv4 listening address")
        }
        return ArtifactServer(signer: signer, address: "\(host):\(actualPort)", server: server, task: task)
    }

    public func stop() async {
        await server.stop(timeout: 1)
        task.cancel()
    }

    static func handle(_ request: HTTPRequest, signer: URLSigner, logger: Logger) async -> HTTPResponse {
        guard request.method == .GET || request.method == .HEAD else {
            return HTTPResponse(statusCode: .methodNotAllowed)
        }
        var query: [String: String] = [:]
        for item in request.query { query[item.name] = item.value }
        switch signer.verify(path: request.path, query: query) {
        case .failure(let refusal):
            logger.notice("artifact request refused", metadata: ["http.path": "\(request.path.prefix(80))", "reason": "\(refusal)"])
            return HTTPResponse(statusCode: refusal == .expired ? .gone : .forbidden, body: Data("\(refusal)\n".utf8))
        case .success(let path):
            var status = stat()
            guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size <= Self.maxBytes,
                  let body = try? HTTPBodySequence(file: URL(fileURLWithPath: path), suggestedBufferSize: 65_536) else {
                return HTTPResponse(statusCode: .notFound, body: Data("no such artifact\n".utf8))
            }
            logger.debug("artifact served", metadata: ["file.path": "\(path)"])
            return HTTPResponse(statusCode: .ok, headers: [.contentType: KeyframeFile.mediaType(atPath: path) ?? "application/octet-stream"],
                                body: body)
        }
    }
}

/// Why the artifact server could not start.
public struct ArtifactServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

