import Crypto
import Foundation

/// Expiring, HMAC-signed URLs for files on this worker, so a provider can fetch a keyframe
/// without the farm exposing its storage: `{public}/artifacts/{token}/{name}?expires=T&signature=S`,
/// where the token is the file's absolute path in base64url, `T` a Unix time, and `S` the
/// HMAC-SHA256 of token, name and expiry under a key only this worker holds.
public struct URLSigner: Sendable {
    /// The base URL providers reach the artifact server at, without a trailing slash.
    public let publicURL: String
    /// How long a URL stays valid.
    public let lifetime: Duration
    /// The HMAC key's bytes (SymmetricKey itself is not Sendable).
    private let keyBytes: [UInt8]

    /// A signer with a fresh random key, or with `key` (at least 32 bytes) to keep URLs valid across restarts.
    public init(publicURL: String, lifetime: Duration = .seconds(3600), key: [UInt8]? = nil) {
        var base = publicURL
        while base.hasSuffix("/") { base.removeLast() }
        self.publicURL = base
        self.lifetime = lifetime
        keyBytes = key ?? SymmetricKey(size: .bits256).withUnsafeBytes { [UInt8]($0) }
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// A signed URL for `path` (absolute), valid until `now + lifetime`.
    public func url(for path: String, now: Date = Date()) -> String {
        let token = Self.base64URL(Array(path.utf8))
        let name = Self.safeName((path as NSString).lastPathComponent)
        let expires = Int64(now.timeIntervalSince1970) + lifetime.components.seconds
        return "\(publicURL)/artifacts/\(token)/\(name)?expires=\(expires)&signature=\(signature(token: token, name: name, expires: expires))"
    }

    /// Why a request for an artifact is refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case malformed
        case expired
        case badSignature

        public var description: String {
            switch self {
            case .malformed: "not an artifact URL"
            case .expired: "the URL has expired"
            case .badSignature: "the signature does not match"
            }
        }
    }

    /// Checks a request's path (`/artifacts/{token}/{name}`) and query; returns the file's path.
    public func verify(path: String, query: [String: String], now: Date = Date()) -> Result<String, Refusal> {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "artifacts",
              let expiresText = query["expires"], let expires = Int64(expiresText),
              let signatureText = query["signature"], let signature = Self.hexBytes(signatureText),
              let pathBytes = Self.decodeBase64URL(String(parts[2])) else {
            return .failure(.malformed)
        }
        let token = String(parts[2]), name = String(parts[3])
        let message = Array("\(token)\n\(name)\n\(expires)".utf8)
        // Constant-time comparison, and before the expiry check so timing says nothing.
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: message, using: key) else {
            return .failure(.badSignature)
        }
        guard expires >= Int64(now.timeIntervalSince1970) else { return .failure(.expired) }
        return .success(String(decoding: pathBytes, as: UTF8.self))
    }

    private func signature(token: String, name: String, expires: Int64) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array("\(token)\n\(name)\n\(expires)".utf8), using: key)
        return code.map { String(format: "%02x", $0) }.joined()
    }

    static func safeName(_ name: String) -> String {
        let kept = name.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        }
        return kept.isEmpty ? "file" : String(kept)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.count <= 8192 else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { [UInt8]($0) }
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        guard text.count == 64 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
