import Foundation

/// Keyframe files as providers take them: PNG or JPEG, told apart by their first bytes.
enum KeyframeFile {
    /// The largest keyframe a worker sends to a provider.
    static let maxBytes = 20 << 20

    /// `image/png`, `image/jpeg`, `image/x-exr`, or nil when the file is none of those.
    static func mediaType(of header: [UInt8]) -> String? {
        if header.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if header.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if header.starts(with: [0x76, 0x2F, 0x31, 0x01]) { return "image/x-exr" }
        return nil
    }

    static func mediaType(atPath path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return mediaType(of: [UInt8]((try? handle.read(upToCount: 8)) ?? Data()))
    }

    /// The file's bytes and media type, if it is a PNG or JPEG of at most `maxBytes`.
    static func read(_ path: String) -> Result<(bytes: [UInt8], mediaType: String), KeyframeFileError> {
        var status = stat()
        guard stat(path, &status) == 0 else { return .failure(KeyframeFileError("\(path): no such file")) }
        guard (status.st_mode & S_IFMT) == S_IFREG else { return .failure(KeyframeFileError("\(path): not a regular file")) }
        guard status.st_size <= maxBytes else {
            return .failure(KeyframeFileError("\(path): \(status.st_size) bytes, more than the \(maxBytes >> 20) MiB a provider is sent"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(KeyframeFileError("\(path): cannot be read"))
        }
        let bytes = [UInt8](data)
        switch mediaType(of: bytes) {
        case "image/png"?: return .success((bytes, "image/png"))
        case "image/jpeg"?: return .success((bytes, "image/jpeg"))
        case "image/x-exr"?:
            return .failure(KeyframeFileError("\(path): an OpenEXR keyframe; providers take PNG or JPEG, so give this shot a PNG"))
        default:
            return .failure(KeyframeFileError("\(path): not a PNG or JPEG image"))
        }
    }
}

struct KeyframeFileError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
