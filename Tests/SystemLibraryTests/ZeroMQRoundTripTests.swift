import CZeroMQ
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks that libzmq is usable from Swift the way the coordinator and worker use it:
/// a ROUTER bound to an ephemeral loopback port, a DEALER with a known routing id, and
/// multipart messages both ways. Every receive has a timeout, so a broken socket fails the
/// test instead of hanging it. The tests are synchronous: a zmq socket stays on one thread.
@Suite struct ZeroMQRoundTripTests {
    /// Longest any receive may block, in milliseconds.
    static let receiveTimeoutMilliseconds: Int32 = 5_000

    @Test func libraryVersionIsAtLeast4_3() {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        #expect(major == 4)
        #expect(minor >= 3)
    }

    @Test func routerDealerMultipartRoundTrip() throws {
        let context = try #require(zmq_ctx_new())
        defer { zmq_ctx_term(context) }

        let router = try #require(zmq_socket(context, ZMQ_ROUTER))
        defer { zmq_close(router) }
        try setOption(router, ZMQ_LINGER, Int32(0))
        try setOption(router, ZMQ_RCVTIMEO, Self.receiveTimeoutMilliseconds)
        try setOption(router, ZMQ_ROUTER_MANDATORY, Int32(1))
        #expect(zmq_bind(router, "tcp://127.0.0.1:*") == 0, "bind: \(lastError())")
        let endpoint = try lastEndpoint(router)
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let port = try #require(Int(endpoint.split(separator: ":").last ?? ""))
        #expect(port > 0 && port < 65_536)

        let dealer = try #require(zmq_socket(context, ZMQ_DEALER))
        defer { zmq_close(dealer) }
        let routingID = Array("worker-1".utf8)
        try setOption(dealer, ZMQ_LINGER, Int32(0))
        try setOption(dealer, ZMQ_RCVTIMEO, Self.receiveTimeoutMilliseconds)
        try routingID.withUnsafeBytes { bytes in
            try check(zmq_setsockopt(dealer, ZMQ_ROUTING_ID, bytes.baseAddress, bytes.count))
        }
        #expect(zmq_connect(dealer, endpoint) == 0, "connect: \(lastError())")

        // DEALER -> ROUTER: the router sees the dealer's routing id as an extra first frame.
        let request: [[UInt8]] = [Array("READY".utf8), [], [0, 1, 2, 255], Array("slots=2".utf8)]
        try send(dealer, request)
        let received = try receive(router)
        #expect(received.count == request.count + 1)
        #expect(received.first == routingID)
        #expect(Array(received.dropFirst()) == request)

        // ROUTER -> DEALER: addressed by routing id, which the dealer does not see.
        let reply: [[UInt8]] = [Array("ASSIGN".utf8), Array("job-42".utf8), [UInt8](repeating: 7, count: 100_000)]
        try send(router, [routingID] + reply)
        #expect(try receive(dealer) == reply)

        // With nothing queued, a receive gives up after its timeout with EAGAIN.
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        try setOption(dealer, ZMQ_RCVTIMEO, Int32(50))
        #expect(zmq_msg_recv(&message, dealer, 0) == -1)
        #expect(zmq_errno() == EAGAIN)

        // ROUTER_MANDATORY makes a message for an unknown peer an error, not a silent drop.
        let unknown = Array("nobody".utf8)
        #expect(throws: ZeroMQError.self) { try send(router, [unknown, Array("PING".utf8)]) }
    }
}

/// A failed libzmq call, with the message zmq_strerror gives for its errno.
struct ZeroMQError: Error, CustomStringConvertible {
    let code: Int32
    var description: String { "zmq error \(code): \(String(cString: zmq_strerror(code)))" }
}

private func lastError() -> ZeroMQError { ZeroMQError(code: zmq_errno()) }

private func check(_ result: Int32) throws {
    if result == -1 { throw lastError() }
}

private func setOption(_ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: Int32) throws {
    var value = value
    try check(zmq_setsockopt(socket, option, &value, MemoryLayout<Int32>.size))
}

private func lastEndpoint(_ socket: UnsafeMutableRawPointer) throws -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    var length = buffer.count
    try check(zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &length))
    return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Sends `frames` as one multipart message (ZMQ_SNDMORE on all but the last frame).
private func send(_ socket: UnsafeMutableRawPointer, _ frames: [[UInt8]]) throws {
    for (index, frame) in frames.enumerated() {
        let flags = index == frames.count - 1 ? 0 : ZMQ_SNDMORE
        let sent = frame.withUnsafeBytes { bytes in
            zmq_send(socket, bytes.baseAddress, bytes.count, flags)
        }
        if sent == -1 { throw lastError() }
        #expect(Int(sent) == frame.count)
    }
}

/// Receives one whole multipart message, frame by frame, through zmq_msg_t.
private func receive(_ socket: UnsafeMutableRawPointer) throws -> [[UInt8]] {
    var frames: [[UInt8]] = []
    repeat {
        var message = zmq_msg_t()
        try check(zmq_msg_init(&message))
        defer { zmq_msg_close(&message) }
        let size = zmq_msg_recv(&message, socket, 0)
        if size == -1 { throw lastError() }
        let data = UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: Int(size))
        frames.append(Array(data))
        if zmq_msg_more(&message) == 0 { break }
    } while true
    return frames
}
