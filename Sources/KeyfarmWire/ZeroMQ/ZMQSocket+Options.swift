import CZeroMQ

/// Socket options, each with the C type libzmq expects: int for most, int64_t for ZMQ_MAXMSGSIZE,
/// raw bytes for routing ids and subscriptions.
///
/// Set options before `bind` and `connect`: libzmq copies most of them (high-water marks, maximum
/// message size, routing id, keepalive, handshake and reconnect intervals) into each endpoint
/// when it is made, so a later change misses the connections that endpoint makes or accepts.
/// Timeouts, linger, router-mandatory and subscriptions apply whenever they are set.
extension ZMQSocket {
    /// How long unsent messages are kept after `close()` (ZMQ_LINGER): -1 forever (libzmq's default), 0 drop them.
    public func setLinger(milliseconds: Int32) throws {
        try setOption(ZMQ_LINGER, milliseconds, "setting linger to \(milliseconds) ms")
    }

    /// Sets the routing id a ROUTER peer sees as this socket's first frame (ZMQ_ROUTING_ID); 1 to 255 bytes, not starting with 0.
    public func setIdentity(_ identity: [UInt8]) throws {
        try setOption(ZMQ_ROUTING_ID, bytes: identity, "setting a \(identity.count)-byte routing id")
    }

    /// Makes a ROUTER report an unknown or full peer as an error instead of dropping the message (ZMQ_ROUTER_MANDATORY).
    ///
    /// An unknown routing id then throws EHOSTUNREACH from `send`; a full peer returns false
    /// with `dontWait`, or blocks up to the send timeout without it.
    public func setRouterMandatory(_ on: Bool) throws {
        try setOption(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0), "setting router-mandatory to \(on)")
    }

    /// Limits the messages queued per peer in each direction (ZMQ_SNDHWM, ZMQ_RCVHWM; 0 = no limit, default 1000).
    public func setHighWaterMarks(send: Int32, receive: Int32) throws {
        try setOption(ZMQ_SNDHWM, send, "setting the send high-water mark to \(send)")
        try setOption(ZMQ_RCVHWM, receive, "setting the receive high-water mark to \(receive)")
    }

    /// Sets the first reconnect delay and the ceiling it backs off to (ZMQ_RECONNECT_IVL, ZMQ_RECONNECT_IVL_MAX; 0 = no back-off).
    public func setReconnectInterval(milliseconds: Int32, maximum: Int32) throws {
        try setOption(ZMQ_RECONNECT_IVL, milliseconds, "setting the reconnect interval to \(milliseconds) ms")
        try setOption(ZMQ_RECONNECT_IVL_MAX, maximum, "setting the maximum reconnect interval to \(maximum) ms")
    }

    /// Bounds a blocking `receive` (ZMQ_RCVTIMEO): after this many milliseconds it returns nil; -1 waits forever.
    public func setReceiveTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_RCVTIMEO, milliseconds, "setting the receive timeout to \(milliseconds) ms")
    }

    /// Bounds a blocking `send` (ZMQ_SNDTIMEO): after this many milliseconds it returns false; -1 waits forever.
    public func setSendTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_SNDTIMEO, milliseconds, "setting the send timeout to \(milliseconds) ms")
    }

    /// Turns TCP keepalive on or off (ZMQ_TCP_KEEPALIVE), so a peer that vanished without a FIN is noticed.
    public func setTCPKeepalive(_ on: Bool) throws {
        try setOption(ZMQ_TCP_KEEPALIVE, Int32(on ? 1 : 0), "setting TCP keepalive to \(on)")
    }

    /// Queues messages only on completed connections (ZMQ_IMMEDIATE), so nothing waits for a peer that never comes.
    public func setImmediate(_ on: Bool) throws {
        try setOption(ZMQ_IMMEDIATE, Int32(on ? 1 : 0), "setting immediate to \(on)")
    }

    /// Bounds the ZMTP handshake of a new connection (ZMQ_HANDSHAKE_IVL; 0 = no limit, default 30 s).
    public func setHandshakeInterval(milliseconds: Int32) throws {
        try setOption(ZMQ_HANDSHAKE_IVL, milliseconds, "setting the handshake interval to \(milliseconds) ms")
    }

    /// Drops any peer that sends a frame larger than `bytes` (ZMQ_MAXMSGSIZE; -1 = no limit).
    ///
    /// This protects a ROUTER from huge garbage: libzmq closes that peer's connection before
    /// allocating the frame, and the socket keeps serving everyone else.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        try setOption(ZMQ_MAXMSGSIZE, bytes, "setting the maximum message size to \(bytes) bytes")
    }

    /// Makes a SUB socket receive messages whose first frame starts with `prefix` (ZMQ_SUBSCRIBE; empty = all).
    public func subscribe(_ prefix: [UInt8]) throws {
        try setOption(ZMQ_SUBSCRIBE, bytes: prefix, "subscribing to a \(prefix.count)-byte prefix")
    }

    /// Undoes one earlier `subscribe` with the same prefix (ZMQ_UNSUBSCRIBE).
    public func unsubscribe(_ prefix: [UInt8]) throws {
        try setOption(ZMQ_UNSUBSCRIBE, bytes: prefix, "unsubscribing from a \(prefix.count)-byte prefix")
    }

    /// Sets a fixed-size option; `T` must be the option's C type (int for most, int64_t for ZMQ_MAXMSGSIZE).
    func setOption<T: FixedWidthInteger>(_ option: Int32, _ value: T, _ context: String) throws {
        let socket = try open(context)
        var value = value
        try zmqCheck(zmq_setsockopt(socket, option, &value, MemoryLayout<T>.size), context)
    }

    /// Sets a binary option such as a routing id or a subscription prefix.
    func setOption(_ option: Int32, bytes: [UInt8], _ context: String) throws {
        let socket = try open(context)
        let result = bytes.withUnsafeBytes { zmq_setsockopt(socket, option, $0.baseAddress, $0.count) }
        try zmqCheck(result, context)
    }

    /// Reads an int option such as ZMQ_EVENTS.
    func intOption(_ option: Int32, _ context: String) throws -> Int32 {
        let socket = try open(context)
        var value: Int32 = 0
        var length = MemoryLayout<Int32>.size
        try zmqCheck(zmq_getsockopt(socket, option, &value, &length), context)
        return value
    }
}
