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

extension Checksum {
    /// The checksum an EXR sequence deliverable carries: the SHA-256 of its `sha256sum`-style
    /// listing, one `<sha256>  <file name>` line per frame in order, for the files that
    /// `pattern` (`.../exr/sh010.%04d.exr`) names for frames 0 to `frames - 1`. Nil when a
    /// frame is missing or unreadable.
    public static func sha256HexOfSequence(pattern: String, frames: Int) -> String? {
        guard frames > 0, pattern.components(separatedBy: "%04d").count == 2 else { return nil }
        var entries: [(sha256: String, name: String)] = []
        for index in 0..<frames {
            let path = pattern.replacingOccurrences(of: "%04d", with: String(format: "%04d", index))
            guard let sha = sha256Hex(ofFile: path) else { return nil }
            entries.append((sha, (path as NSString).lastPathComponent))
        }
        return sha256HexOfListing(entries)
    }

    /// The SHA-256 of a sequence's `sha256sum`-style listing: one `<sha256>  <file name>` line
    /// per frame, in order. The stitcher records it for an EXR sequence it writes; reuse checks
    /// the frames against it.
    public static func sha256HexOfListing(_ entries: [(sha256: String, name: String)]) -> String {
        sha256Hex(Data(entries.map { "\($0.sha256)  \($0.name)\n" }.joined().utf8))
    }
}
