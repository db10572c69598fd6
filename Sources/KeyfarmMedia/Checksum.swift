import Crypto
import Foundation

/// The checksum artifacts carry: SHA-256 as lower-case hex.
public enum Checksum {
    public static func sha256Hex<Bytes: DataProtocol>(_ bytes: Bytes) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// The checksum of a file read in 1 MiB pieces, or nil when it cannot be read.
    public static func sha256Hex(ofFile path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = Hasher()
        do {
            // nil or an empty piece: the end of the file.
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        } catch {
            return nil
        }
        return hasher.finalize()
    }

    /// A checksum fed piece by piece.
    public struct Hasher {
        private var state = SHA256()
        public init() {}
        public mutating func update<Bytes: DataProtocol>(_ bytes: Bytes) { state.update(data: bytes) }
        public func finalize() -> String { hex(state.finalize()) }
    }

    private static func hex<Digest: Sequence>(_ digest: Digest) -> String where Digest.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
