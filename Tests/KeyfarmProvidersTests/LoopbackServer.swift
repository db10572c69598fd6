import Crypto
import FlyingFox
import FlyingSocks
import Foundation

/// A real HTTP server on 127.0.0.1 (FlyingFox) with the routes the client tests need:
/// echo, rate limit, failure, redirect chains and loops, oversized, stalled, and downloads
/// whole, failed and cut off.
final class LoopbackServer: Sendable {
    /// The bytes `/video.mp4` serves (and `CutOffServer` promises).
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
        // FlyingFox answers 500 when a handler outlives `timeout`. The handlers here are quick,
        // but they run on the cooperative pool, which long synchronous tests (the fuzz tests)
        // can hold for seconds on a loaded 2-core machine: a roomy timeout, so that a starved
        // handler is late rather than a 500.
        let server = HTTPServer(address: try .inet(ip4: "127.0.0.1", port: 0), timeout: 120, logger: .disabled)
        await addRoutes(to: server)
        let task = Task { try await server.run() }
        // Roomy: the server's tasks share the cooperative pool with every other test.
        try await server.waitUntilListening(timeout: 90)
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
    }

    private static func redirect(to location: String) -> HTTPResponse {
        HTTPResponse(statusCode: .found, headers: HTTPHeaders([HTTPHeader("Location"): location]))
    }
}

struct LoopbackServerError: Error, CustomStringConvertible {
    var description: String
}

/// Bytes served in chunks.
struct ByteChunks: AsyncBufferedSequence, Sendable {
    typealias Element = UInt8
    let bytes: [UInt8]

    func makeAsyncIterator() -> Iterator { Iterator(bytes: bytes) }

    struct Iterator: AsyncBufferedIteratorProtocol {
        let bytes: [UInt8]
        var offset = 0

        mutating func next() async throws -> UInt8? {
            try await nextBuffer(suggested: 1)?.first
        }

        mutating func nextBuffer(suggested count: Int) async throws -> ArraySlice<UInt8>? {
            guard offset < bytes.count else { return nil }
            let end = Swift.min(offset + Swift.max(1, count), bytes.count)
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

/// A one-connection HTTP server on a raw socket that promises `LoopbackServer.video` with a
/// Content-Length, sends a fifth of it and closes the socket: a dropped connection the
/// client must notice at once (an async server may keep the socket open after a failed body).
final class CutOffServer: Sendable {
    let port: UInt16
    private let listener: Int32

    init() throws {
        // Close-on-exec: a child another test spawns meanwhile must not inherit the socket,
        // or its copy would keep the connection open after we close ours.
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw LoopbackServerError(description: "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(descriptor, raw, length) == 0 && listen(descriptor, 1) == 0
                    && getsockname(descriptor, raw, &length) == 0
            }
        }
        guard listening else {
            close(descriptor)
            throw LoopbackServerError(description: "bind/listen on 127.0.0.1 failed")
        }
        listener = descriptor
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [descriptor] in Self.serveOnce(descriptor) }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)/cut.mp4" }

    private static func serveOnce(_ listener: Int32) {
        defer { close(listener) }
        // Bounded: give up if no client comes within 10 s.
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 10_000) == 1 else { return }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
        defer {
            // shutdown sends the FIN whoever else may hold a copy of the descriptor.
            shutdown(connection, Int32(SHUT_RDWR))
            close(connection)
        }
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.ends(with: Array("\r\n\r\n".utf8)) && request.count < 65_536 {
            let count = read(connection, &buffer, buffer.count)
            guard count > 0 else { return }
            request += buffer[0..<count]
        }
        let video = LoopbackServer.video
        let head = "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: \(video.count)\r\n\r\n"
        var pending = Array(head.utf8) + video[0..<(video.count / 5)]
        while !pending.isEmpty {
            let written = pending.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return }
            pending.removeFirst(written)
        }
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
