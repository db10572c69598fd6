import Foundation
import KeyfarmCore

/// Keyframe files as providers take them: PNG or JPEG, told apart by their first bytes.
enum KeyframeFile {
    /// The largest keyframe a worker sends to a provider.
    static let maxBytes = 20 << 20

    /// `image/png`, `image/jpeg`, `image/x-exr`, or nil when the file is none of those.
    static func mediaType(atPath path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return ImageSignature(header: (try? handle.read(upToCount: 8)) ?? Data())?.mediaType
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
        switch ImageSignature(header: bytes) {
        case .png?: return .success((bytes, ImageSignature.png.mediaType))
        case .jpeg?: return .success((bytes, ImageSignature.jpeg.mediaType))
        case .exr?:
            return .failure(KeyframeFileError("\(path): an OpenEXR keyframe; providers take PNG or JPEG, so give this shot a PNG"))
        case nil:
            return .failure(KeyframeFileError("\(path): not a PNG or JPEG image"))
        }
    }
}

struct KeyframeFileError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
