import Crypto
import Foundation

/// The checksum artifacts carry: SHA-256 as lower-case hex.
public enum Checksum {
    public static func sha256Hex<Bytes: DataProtocol>(_ bytes: Bytes) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
