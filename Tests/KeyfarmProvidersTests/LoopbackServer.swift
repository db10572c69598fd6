import Crypto
import FlyingFox
import FlyingSocks
import Foundation

/// A real HTTP server on 127.0.0.1 (FlyingFox) with the routes the client tests need:
/// echo, rate limit, failure, redirect chains and loops, oversized, stalled, and downloads
/// whole, failed and cut off.
final class LoopbackServer: Sendable {
    /// The bytes `/video.mp4` and `/cut.mp4` serve.
    static let video: [UInt8] = sampleBytes(count: 5 * 1024 * 1024)
    /// How long `/stall` waits before answering.
    static let stall: Duration = .seconds(2)

    let server: HTTPServer
    let task: Task<Void, any Error>
    let baseURL: String

    private init(server: HTTPServer, task: Task<Void, any Error>, baseURL: String) {
        self.server = server
        self.task = task
        self.baseURL = baseURL
    }

    /// Starts a server on a free loopback port and waits until it listens.
    static func start() async throws -> LoopbackServer {
        let server = HTTPServer(address: try .inet(ip4: "127.0.0.1", port: 0), timeout: 10, logger: .disabled)
        await addRoutes(to: server)
        let task = Task { try await server.run() }
        try await server.waitUntilListening(timeout: 5)
        guard case .ip4(_, let port)? = await server.listeningAddress else {
            task.cancel()
            throw LoopbackServerError(description: "the server reports no IPv4 listening address")
        }
        return LoopbackServer(server: server, task: task, baseURL: "http://127.0.0.1:\(port)")
    }

    func url(_ path: String) -> String { baseURL + path }

    func stop() async {
        task.cancel()
        await server.stop(timeout: 1)
    }

    private static func addRoutes(to server: HTTPServer) async {
        await server.appendRoute("/echo") { request in
            let body = try await request.bodyData
            var headers: [String: String] = [:]
            for (name, value) in request.headers { headers[name.rawValue.lowercased()] = value }
            let echo: [String: Any] = [
                "method": request.method.rawValue,
                "path": request.path,
                "headers": headers,
                "body": String(decoding: body, as: UTF8.self),
                "bodyBytes": body.count,
            ]
            return HTTPResponse(statusCode: .ok, headers: [HTTPHeader("Content-Type"): "application/json"],
                                body: try JSONSerialization.data(withJSONObject: echo, options: [.sortedKeys]))
        }
        await server.appendRoute("/limited") { _ in
            HTTPResponse(statusCode: HTTPStatusCode(429, phrase: "Too Many Requests"),
                         headers: [HTTPHeader("Retry-After"): "7", HTTPHeader("Content-Type"): "application/json"],
                         body: Data(#"{"detail":"Too many concurrent generations"}"#.utf8))
        }
        await server.appendRoute("/unavailable") { _ in
            HTTPResponse(statusCode: HTTPStatusCode(503, phrase: "Service Unavailable"), body: Data("try later".utf8))
        }
        await server.appendRoute("/hop/1") { _ in redirect(to: "/hop/2") }
        await server.appendRoute("/hop/2") { _ in redirect(to: "/arrived") }
        await server.appendRoute("/arrived") { _ in HTTPResponse(statusCode: .ok, body: Data("arrived".utf8)) }
        await server.appendRoute("/loop") { _ in redirect(to: "/loop") }
        await server.appendRoute("/elsewhere") { _ in redirect(to: "ftp://127.0.0.1/file") }
        await server.appendRoute("/big") { _ in
            HTTPResponse(statusCode: .ok, body: Data(repeating: 0x61, count: 2 * 1024 * 1024))
        }
        await server.appendRoute("/big-chunked") { _ in
            // No Content-Length: the client can only notice the size while receiving.
            HTTPResponse(statusCode: .ok, body: HTTPBodySequence(from: ByteChunks(bytes: [UInt8](repeating: 0x62, count: 2 * 1024 * 1024))))
        }
        await server.appendRoute("/stall") { _ in
            try await Task.sleep(for: stall)
            return HTTPResponse(statusCode: .ok, body: Data("late".utf8))
        }
        await server.appendRoute("/video.mp4") { _ in
            HTTPResponse(statusCode: .ok, headers: [HTTPHeader("Content-Type"): "video/mp4"],
                         body: HTTPBodySequence(from: ByteChunks(bytes: video), count: video.count, suggestedBufferSize: 65_536))
        }
        await server.appendRoute("/broken.mp4") { _ in
            HTTPResponse(statusCode: .internalServerError, body: Data("disk on fire".utf8))
        }
        await server.appendRoute("/cut.mp4") { _ in
            // Promises the whole video, sends a fifth of it, then drops the connection.
            HTTPResponse(statusCode: .ok, headers: [HTTPHeader("Content-Type"): "video/mp4"],
                         body: HTTPBodySequence(from: ByteChunks(bytes: video, failAfter: video.count / 5),
                                                count: video.count, suggestedBufferSize: 65_536))
        }
    }

    private static func redirect(to location: String) -> HTTPResponse {
        HTTPResponse(statusCode: .found, headers: HTTPHeaders([HTTPHeader("Location"): location]))
    }
}

struct LoopbackServerError: Error, CustomStringConvertible {
    var description: String
}

/// Bytes served in chunks, optionally failing part-way to simulate a dropped connection.
struct ByteChunks: AsyncBufferedSequence, Sendable {
    typealias Element = UInt8
    let bytes: [UInt8]
    var failAfter: Int? = nil

    func makeAsyncIterator() -> Iterator { Iterator(bytes: bytes, failAfter: failAfter ?? bytes.count) }

    struct Iterator: AsyncBufferedIteratorProtocol {
        let bytes: [UInt8]
        let failAfter: Int
        var offset = 0

        mutating func next() async throws -> UInt8? {
            try await nextBuffer(suggested: 1)?.first
        }

        mutating func nextBuffer(suggested count: Int) async throws -> ArraySlice<UInt8>? {
            if offset >= failAfter && offset < bytes.count {
                throw LoopbackServerError(description: "connection dropped on purpose")
            }
            guard offset < bytes.count else { return nil }
            let end = Swift.min(offset + Swift.max(1, count), failAfter, bytes.count)
            defer { offset = end }
            return bytes[offset..<end]
        }
    }
}

/// Deterministic bytes that are not all alike, so a dropped or repeated chunk shows.
func sampleBytes(count: Int) -> [UInt8] {
    var state: UInt32 = 0x9E37_79B9
    var result = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13; state ^= state >> 17; state ^= state << 5
        result[index] = UInt8(truncatingIfNeeded: state)
    }
    return result
}

/// Lower-case hex SHA-256, computed independently of the client.
func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

/// Runs blocking client code on its own thread, so it can never starve the server's tasks.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.start()
    }
}
