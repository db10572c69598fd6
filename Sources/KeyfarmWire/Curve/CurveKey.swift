import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A CURVE public key (32 bytes): who a worker or a coordinator is, safe to show, log and store.
///
/// Its text form is Z85 (ZeroMQ RFC 32): 40 characters, as zmq_curve_keypair prints it and as
/// `keyfarm keys list` and the coordinator's logs show it.
public struct CurvePublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The 32 raw bytes, as ZMQ_CURVE_PUBLICKEY, ZMQ_CURVE_SERVERKEY and ZAP credentials carry them.
    public let bytes: [UInt8]

    /// A key from its 32 raw bytes (a ZAP request's credentials frame); nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// A key from its 40-character Z85 text; nil when it is not exactly that.
    public init?(z85 text: String) {
        guard let bytes = Z85.decode(text), bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// The 40-character Z85 text.
    public var z85: String { Z85.encode(bytes) }

    public var description: String { z85 }
}

/// A CURVE secret key (32 bytes): read from a file, handed to libzmq, and never shown.
///
/// Its description names only the public key that goes with it, so interpolating one into a
/// log line or an error leaks nothing.
public struct CurveSecretKey: Sendable, CustomStringConvertible {
    /// The 32 raw bytes; internal so that only the socket options and the key-file writer see them.
    let bytes: [UInt8]
    /// The public key derived from it (zmq_curve_public).
    public let publicKey: CurvePublicKey

    init(bytes: [UInt8], publicKey: CurvePublicKey) {
        self.bytes = bytes
        self.publicKey = publicKey
    }

    /// A secret key from its Z85 text, with its public key derived; nil when the text is not a key.
    static func fromZ85(_ text: String) throws -> CurveSecretKey? {
        guard let bytes = Z85.decode(text), bytes.count == 32 else { return nil }
        return CurveSecretKey(bytes: bytes, publicKey: try Curve.publicKey(forSecretZ85: text))
    }

    /// The secret's Z85 text, for the key-file writer alone.
    var z85: String { Z85.encode(bytes) }

    public var description: String { "CurveSecretKey(public: \(publicKey.z85))" }
}

/// libzmq's CURVE support: whether it is there, and making key pairs.
public enum Curve {
    /// Whether this libzmq was built with CURVE (libsodium); Debian's is.
    public static var isAvailable: Bool { zmq_has("curve") != 0 }

    /// A new random key pair (zmq_curve_keypair).
    public static func generate() throws -> CurveSecretKey {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        defer { for index in secretText.indices { secretText[index] = 0 } }
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else {
            throw ZMQError.last("generating a CURVE key pair (is libzmq built with CURVE?)")
        }
        let secretZ85 = String(cString: secretText)
        guard let bytes = Z85.decode(secretZ85), let publicKey = CurvePublicKey(z85: String(cString: publicText)) else {
            throw ZMQError(code: EINVAL, context: "reading the key pair libzmq generated")
        }
        return CurveSecretKey(bytes: bytes, publicKey: publicKey)
    }

    /// The public key of a secret key in Z85 (zmq_curve_public).
    static func publicKey(forSecretZ85 secret: String) throws -> CurvePublicKey {
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secret) == 0 else {
            throw ZMQError.last("deriving a CURVE public key (is libzmq built with CURVE?)")
        }
        guard let key = CurvePublicKey(z85: String(cString: publicText)) else {
            throw ZMQError(code: EINVAL, context: "reading the public key libzmq derived")
        }
        return key
    }
}

/// Z85 (ZeroMQ RFC 32), the text form of CURVE keys: 5 characters for every 4 bytes.
public enum Z85 {
    /// The 85 characters Z85 uses, in value order.
    public static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// The text of `bytes`, whose count must be a multiple of 4.
    public static func encode(_ bytes: [UInt8]) -> String {
        precondition(bytes.count % 4 == 0, "Z85 encodes whole 4-byte groups")
        var text = [CChar](repeating: 0, count: bytes.count * 5 / 4 + 1)
        _ = zmq_z85_encode(&text, bytes, bytes.count)
        defer { for index in text.indices { text[index] = 0 } }
        return String(cString: text)
    }

    /// The bytes of `text`; nil unless it is whole 5-character groups of the alphabet, each at
    /// most 2^32 - 1 (libzmq 4.3 does not check that, so this re-encodes and compares).
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard !characters.isEmpty, characters.count % 5 == 0,
              characters.allSatisfy({ alphabet.contains($0) }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: characters.count * 4 / 5)
        guard zmq_z85_decode(&bytes, text) != nil else { return nil }
        guard encode(bytes) == text else { return nil }
        return bytes
    }
}
