import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Multipart messages: a message is a list of frames that libzmq delivers all together or not at all.
extension ZMQSocket {
    /// Sends all frames as one multipart message (zmq_send, ZMQ_SNDMORE on all but the last).
    ///
    /// `dontWait` maps to ZMQ_DONTWAIT. Returns false when the message was not queued because it
    /// would block: with `dontWait`, when the send timeout runs out, or when a signal interrupts
    /// the wait (EAGAIN, EINTR). Throws on other errors, e.g. EHOSTUNREACH for an unknown routing
    /// id with router-mandatory, or EINVAL for a message with no frames. libzmq only refuses a
    /// message at its first frame, so a message is never half sent.
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws -> Bool {
        let socket = try open("sending a \(frames.count)-frame message")
        guard !frames.isEmpty else {
            throw ZMQError(code: EINVAL, context: "sending a message with no frames")
        }
        let last = frames.count - 1
        for (index, frame) in frames.enumerated() {
            var flags = index == last ? 0 : ZMQ_SNDMORE
            if dontWait { flags |= ZMQ_DONTWAIT }
            while true {
                let sent = frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, flags) }
                if sent != -1 { break }
                let error = ZMQError.last("sending frame \(index + 1) of \(frames.count)")
                if index == 0 && (error.isWouldBlock || error.code == EINTR) { return false }
                if error.code == EINTR { continue }
                throw error
            }
        }
        return true
    }

    /// Receives one whole multipart message (zmq_msg_recv into a zmq_msg_t, frame by frame).
    ///
    /// Returns nil when nothing is waiting: with `dontWait`, when the receive timeout runs out,
    /// or when a signal interrupts the wait (EAGAIN, EINTR). A ROUTER's messages start with the
    /// sender's routing id. Throws ETERM once the context is terminated.
    public func receive(dontWait: Bool = false) throws -> [[UInt8]]? {
        try receiveMessage(dontWait: dontWait, readingUserID: false)?.frames
    }

    /// Receives one whole multipart message, as `receive`, with the "User-Id" the ZAP handler
    /// gave the connection it came on (nil on a socket without ZAP).
    public func receiveWithUserID(dontWait: Bool = false) throws -> (frames: [[UInt8]], userID: String?)? {
        try receiveMessage(dontWait: dontWait, readingUserID: true)
    }

    private func receiveMessage(dontWait: Bool, readingUserID: Bool) throws -> (frames: [[UInt8]], userID: String?)? {
        let socket = try open("receiving a message")
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        var frames: [[UInt8]] = []
        var userID: String?
        while true {
            // Only the first frame can be missing: the rest of a message arrives with it.
            let flags = frames.isEmpty && dontWait ? ZMQ_DONTWAIT : 0
            if zmq_msg_recv(&message, socket, flags) == -1 {
                let error = ZMQError.last("receiving frame \(frames.count + 1) of a message")
                if frames.isEmpty && (error.isWouldBlock || error.code == EINTR) { return nil }
                if error.code == EINTR { continue }
                throw error
            }
            frames.append(Array(UnsafeRawBufferPointer(start: zmq_msg_data(&message),
                                                       count: zmq_msg_size(&message))))
            // A ROUTER's own routing-id frame carries no metadata; the peer's frames do.
            if readingUserID, userID == nil, let value = zmq_msg_gets(&message, "User-Id") {
                userID = String(cString: value)
            }
            if zmq_msg_more(&message) == 0 { return (frames, userID) }
        }
    }

    /// Whether a whole message is waiting to be received (ZMQ_EVENTS has ZMQ_POLLIN), without blocking.
    ///
    /// Lets a reactor drain every waiting message after one wake-up from `ZMQPoller` without
    /// blocking; false on a closed socket.
    public var hasMoreToReceive: Bool {
        guard let events = try? intOption(ZMQ_EVENTS, "reading the socket's events") else { return false }
        return events & ZMQ_POLLIN != 0
    }

    /// The descriptor libzmq signals when the socket's state may have changed (ZMQ_FD), for an
    /// epoll loop over more sockets than zmq_poll scans cheaply. It is edge-like: after it
    /// becomes readable, receive until nothing is left, and after every send check
    /// `hasMoreToReceive`, since a send can consume the signal of a message that arrived.
    public func notificationDescriptor() throws -> Int32 {
        let socket = try open("reading the socket's descriptor")
        var value: Int32 = -1
        var length = MemoryLayout<Int32>.size
        try zmqCheck(zmq_getsockopt(socket, ZMQ_FD, &value, &length), "reading the socket's descriptor")
        return value
    }
}
