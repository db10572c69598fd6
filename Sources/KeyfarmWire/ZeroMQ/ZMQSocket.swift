import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A ZeroMQ socket; like libzmq's, it belongs to one thread at a time, so it is not Sendable.
///
/// Make it on the thread that will use it (or hand it over with a full memory barrier, as zmq(7)
/// asks) and close it there. Every call blocks the calling thread: keep sockets out of actors and
/// async tasks and give them a thread of their own, polled with `ZMQPoller`. Set options before
/// `bind` and `connect` (see `ZMQSocket+Options.swift`). Calls on a closed socket throw ENOTSOCK.
public final class ZMQSocket {
    /// The context is kept alive for as long as the socket: zmq_ctx_term waits for every socket.
    public let context: ZMQContext
    /// The messaging pattern the socket was opened for.
    public let type: ZMQSocketType
    private var socket: UnsafeMutableRawPointer?

    /// Opens a socket of `type` in `context`.
    public init(context: ZMQContext = .shared, type: ZMQSocketType) throws {
        self.context = context
        self.type = type
        socket = try context.withContext("opening a \(type) socket") { context in
            guard let socket = zmq_socket(context, type.rawValue) else {
                throw ZMQError.last("opening a \(type) socket")
            }
            return socket
        }
    }

    deinit { close() }

    /// Closes the socket (zmq_close); calling it again does nothing.
    ///
    /// Unsent messages stay queued in libzmq for the socket's linger time (`setLinger`).
    public func close() {
        guard let socket else { return }
        zmq_close(socket)
        self.socket = nil
    }

    /// Whether `close()` has not been called yet.
    public var isOpen: Bool { socket != nil }

    /// The libzmq socket, for zmq_poll and for libzmq calls this wrapper does not cover.
    ///
    /// Using it after `close()` is a programming error and traps.
    public var handle: UnsafeMutableRawPointer {
        guard let socket else { preconditionFailure("ZMQSocket.handle used after close()") }
        return socket
    }

    /// The open socket, or ENOTSOCK with `what` once it is closed.
    func open(_ what: @autoclosure () -> String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let socket else { throw ZMQError(code: ENOTSOCK, context: what()) }
        return socket
    }

    // MARK: Endpoints

    /// Binds to a local endpoint, e.g. "tcp://127.0.0.1:*" (a free port; see `lastEndpoint`) or "inproc://name".
    public func bind(_ endpoint: String) throws {
        let context = "binding \(endpoint)"
        try zmqCheck(zmq_bind(try open(context), endpoint), context)
    }

    /// Connects to a remote endpoint; libzmq connects (and reconnects) in the background.
    public func connect(_ endpoint: String) throws {
        let context = "connecting to \(endpoint)"
        try zmqCheck(zmq_connect(try open(context), endpoint), context)
    }

    /// Drops a connection made with `connect`, using the same endpoint string.
    public func disconnect(_ endpoint: String) throws {
        let context = "disconnecting from \(endpoint)"
        try zmqCheck(zmq_disconnect(try open(context), endpoint), context)
    }

    /// The endpoint last bound or connected (ZMQ_LAST_ENDPOINT), with the real port after binding
    /// "tcp://127.0.0.1:*"; nil when there is none or the socket is closed.
    public var lastEndpoint: String? {
        guard let socket else { return nil }
        var buffer = [UInt8](repeating: 0, count: 1024)
        var length = buffer.count
        guard zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &length) == 0 else { return nil }
        let text = String(decoding: buffer.prefix(while: { $0 != 0 }), as: UTF8.self)
        return text.isEmpty ? nil : text
    }
}

/// A socket stays on one thread (zmq(7)); this makes sending one across an error.
@available(*, unavailable)
extension ZMQSocket: Sendable {}
