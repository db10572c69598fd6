import CZeroMQ

/// CURVE (ZeroMQ RFC 26) on a socket, and the ZAP domain its server side asks the handler about.
///
/// Set these before `bind` or `connect`: libzmq gives each new connection the mechanism the
/// socket had when the connection was made. Secret keys go to libzmq as raw bytes and appear
/// in no error message.
extension ZMQSocket {
    /// Makes this socket a CURVE server with `secretKey` (ZMQ_CURVE_SERVER, ZMQ_CURVE_SECRETKEY).
    ///
    /// Clients must know its public key; plain-text (NULL mechanism) peers fail the handshake.
    /// With a ZAP handler bound in the same context (`inproc://zeromq.zap.01`), every client's
    /// public key is put to it before the connection is admitted.
    public func setCurveServer(secretKey: CurveSecretKey) throws {
        try setOption(ZMQ_CURVE_SERVER, Int32(1), "making the socket a CURVE server")
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: secretKey.bytes, "setting the CURVE secret key")
    }

    /// Makes this socket a CURVE client of the server whose public key is `serverKey`, as the
    /// key pair of `secretKey` (ZMQ_CURVE_SERVERKEY, ZMQ_CURVE_PUBLICKEY, ZMQ_CURVE_SECRETKEY).
    public func setCurveClient(serverKey: CurvePublicKey, secretKey: CurveSecretKey) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: serverKey.bytes, "setting the CURVE server key")
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: secretKey.publicKey.bytes, "setting the CURVE public key")
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: secretKey.bytes, "setting the CURVE secret key")
    }

    /// The domain a server's ZAP requests carry (ZMQ_ZAP_DOMAIN), so a handler can tell sockets apart.
    public func setZAPDomain(_ domain: String) throws {
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8), "setting the ZAP domain to \(domain)")
    }

    /// Publishes this socket's connection events on a PAIR socket bound at `endpoint` (an
    /// `inproc://` name), for a `ZMQSocket` of type `.pair` to connect to (zmq_socket_monitor).
    ///
    /// `events` is a mask of ZMQ_EVENT_* values. Call before `bind` to see every connection.
    public func monitor(_ endpoint: String, events: Int32) throws {
        let context = "monitoring the socket on \(endpoint)"
        try zmqCheck(zmq_socket_monitor(try open(context), endpoint, events), context)
    }

    /// Stops the monitoring `monitor` started.
    public func stopMonitoring() {
        guard isOpen else { return }
        zmq_socket_monitor(handle, nil, 0)
    }
}

/// One event from a socket monitor: which event, its value, and the endpoint it concerns.
///
/// For a bound socket the endpoint is the local one (libzmq 4.3's monitor format 1 carries no
/// peer address). The value is a descriptor for ACCEPTED and DISCONNECTED, a ZMTP protocol
/// error code for HANDSHAKE_FAILED_PROTOCOL, a ZAP status code for HANDSHAKE_FAILED_AUTH.
public struct ZMQMonitorEvent: Sendable, Equatable {
    public let event: Int32
    public let value: UInt32
    public let endpoint: String

    public static let handshakeFailedNoDetail = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
    public static let handshakeFailedProtocol = ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    public static let handshakeFailedAuth = ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
    public static let handshakeSucceeded = ZMQ_EVENT_HANDSHAKE_SUCCEEDED
    /// The ZMTP error of a peer that spoke another security mechanism, such as plain text to a CURVE server.
    public static let mechanismMismatch = UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)

    public init(event: Int32, value: UInt32, endpoint: String) {
        self.event = event
        self.value = value
        self.endpoint = endpoint
    }

    /// Parses a monitor message: a 6-byte frame (16-bit event, 32-bit value, host byte order)
    /// and a frame with the endpoint; nil for anything else.
    public init?(frames: [[UInt8]]) {
        guard frames.count == 2, frames[0].count == 6 else { return nil }
        let head = frames[0]
        let event = head.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt16.self) }
        let value = head.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 2, as: UInt32.self) }
        self.init(event: Int32(event), value: value, endpoint: String(decoding: frames[1], as: UTF8.self))
    }

    /// What a failed handshake's ZMTP error code means, for a log line.
    public static func describeProtocolError(_ code: UInt32) -> String {
        switch Int32(bitPattern: code) {
        case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return "the peer does not speak CURVE (plain text, or another security mechanism)"
        case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            return "the peer's CURVE handshake did not decrypt (it may hold a wrong or old coordinator public key)"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO:
            return "the peer's CURVE HELLO was malformed (a wrong coordinator public key shows this way)"
        default:
            return "ZMTP protocol error 0x\(String(code, radix: 16))"
        }
    }
}
