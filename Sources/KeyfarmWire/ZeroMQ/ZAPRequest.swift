/// A ZeroMQ authentication request (ZAP, ZeroMQ RFC 27) as libzmq sends it to the handler at
/// `inproc://zeromq.zap.01`, and the reply it waits for.
///
/// The handler is a REP socket, so the frames here are those after the envelope: version
/// "1.0", request id, domain, peer address, routing id, mechanism, then the mechanism's
/// credentials (for CURVE, the client's 32-byte public key).
public struct ZAPRequest: Sendable, Equatable {
    /// The ZAP endpoint libzmq asks; one handler per context may bind it.
    public static let endpoint = "inproc://zeromq.zap.01"

    public let requestID: [UInt8]
    public let domain: String
    /// The peer's IP address, as libzmq gives it (no port).
    public let address: String
    public let mechanism: String
    public let credentials: [[UInt8]]

    /// Parses a request; nil when it is not version 1.0 with at least six frames.
    public init?(frames: [[UInt8]]) {
        guard frames.count >= 6, frames[0] == Array("1.0".utf8) else { return nil }
        requestID = frames[1]
        domain = String(decoding: frames[2], as: UTF8.self)
        address = String(decoding: frames[3], as: UTF8.self)
        mechanism = String(decoding: frames[5], as: UTF8.self)
        credentials = Array(frames.dropFirst(6))
    }

    /// The CURVE client's public key, or nil for another mechanism or a malformed credential.
    public var curvePublicKey: CurvePublicKey? {
        guard mechanism == "CURVE", credentials.count == 1 else { return nil }
        return CurvePublicKey(bytes: credentials[0])
    }

    /// The reply's frames: status 200 admits the peer as `userID`, 400 refuses it with `text`.
    public func reply(allowed: Bool, text: String, userID: String = "") -> [[UInt8]] {
        Self.reply(requestID: requestID, allowed: allowed, text: text, userID: userID)
    }

    /// The reply to the request `requestID`, also for one too malformed to read.
    public static func reply(requestID: [UInt8], allowed: Bool, text: String, userID: String = "") -> [[UInt8]] {
        [Array("1.0".utf8), requestID, Array((allowed ? "200" : "400").utf8), Array(text.utf8),
         Array(userID.utf8), []]
    }
}
