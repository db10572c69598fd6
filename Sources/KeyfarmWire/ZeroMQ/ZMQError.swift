import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: the errno it left and what Keyfarm was doing at the time.
///
/// `context` reads as the start of a sentence ("binding tcp://127.0.0.1:5555"), so the description
/// is something an operator can act on without the stack trace.
public struct ZMQError: Error, CustomStringConvertible, Sendable {
    /// The errno value: a POSIX code (EAGAIN, EHOSTUNREACH, ...) or one of libzmq's own (ETERM, EFSM).
    public let code: Int32
    /// What we were doing when it failed, e.g. "binding tcp://127.0.0.1:5555".
    public let context: String

    /// Makes an error for a failure found outside libzmq, or for tests.
    public init(code: Int32, context: String) {
        self.code = code
        self.context = context
    }

    /// The error libzmq reported for the last call on this thread (zmq_errno).
    static func last(_ context: @autoclosure () -> String) -> ZMQError {
        ZMQError(code: zmq_errno(), context: context())
    }

    public var description: String {
        "\(context): \(String(cString: zmq_strerror(code))) (errno \(code))"
    }

    /// The call would have blocked (EAGAIN): nothing to receive, or a full queue on a non-blocking send.
    public var isWouldBlock: Bool { code == EAGAIN }

    /// The context was terminated (ETERM): the socket's owner should close it and stop.
    public var isTerminated: Bool { code == ETERM }

    /// A ROUTER with router-mandatory has no peer with that routing id (EHOSTUNREACH).
    public var isHostUnreachable: Bool { code == EHOSTUNREACH }
}

/// Throws the thread's last libzmq error when a call returned -1.
@inline(__always)
func zmqCheck(_ result: Int32, _ context: @autoclosure () -> String) throws(ZMQError) {
    if result == -1 { throw ZMQError.last(context()) }
}
