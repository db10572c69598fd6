import Foundation

/// Output URLs that look and behave like an object store's presigned ones: they name their
/// expiry and carry a signature over it, so a client that keeps one past its hour is refused.
enum PresignedURL {
    /// `{origin}/{folder}/{id}{suffix}?expires=...&signature=...`, valid for `lifetime` seconds from `now`.
    static func url(origin: String, folder: String = "files", id: String, suffix: String = ".mp4", lifetime: Int, secret: String,
                    now: Date = Date()) -> String {
        let expires = String(Int(now.timeIntervalSince1970) + lifetime)
        return "\(origin)/\(folder)/\(id)\(suffix)?expires=\(expires)&signature=\(signature(id: id, expires: expires, secret: secret))"
    }

    /// FNV-1a over the id, the expiry and the fake's secret: enough to tell a URL this fake
    /// signed from an edited one (the fake guards nothing of value).
    static func signature(id: String, expires: String, secret: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(id)|\(expires)|\(secret)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
