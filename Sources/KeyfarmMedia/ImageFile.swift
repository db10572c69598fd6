import Foundation
import KeyfarmCore

/// Reading and writing image files by their contents and names: PNG and OpenEXR.
public enum ImageFile {
    /// The formats Keyfarm reads and writes.
    public enum Format: String, Sendable {
        case png, exr
    }

    /// Reads a PNG or EXR file, recognised by its first bytes, into linear light.
    public static func read(_ path: String) throws -> LinearImage {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ImageError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw ImageError(path: path, reason: "not a regular file") }
        guard status.st_size <= ImageLimits.maxFileBytes else {
            throw ImageError(path: path, reason: "\(status.st_size) bytes is larger than the \(ImageLimits.maxFileBytes) allowed")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ImageError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 8)) ?? Data()
        let signature = ImageSignature(header: head)
        if signature == .exr {
            return try LinearImage.readEXR(path: path)
        }
        if signature == .png {
            let data: Data
            do {
                try handle.seek(toOffset: 0)
                data = try handle.readToEnd() ?? Data()
            } catch {
                throw ImageError(path: path, reason: "cannot read: \(error.localizedDescription)")
            }
            return try LinearImage.decodePNG(data, path: path)
        }
        if head.isEmpty { throw ImageError(path: path, reason: "empty file, not a PNG or EXR image") }
        throw ImageError(path: path, reason: "not a PNG or EXR image (unrecognised first bytes)")
    }

    /// The format a path's extension names (`.png`, `.exr`), if any.
    public static func format(forPath path: String) -> Format? {
        Format(rawValue: (path as NSString).pathExtension.lowercased())
    }

    /// Writes `data` to `path` through a temporary file in the same folder that is flushed and
    /// renamed over `path`, so a reader never sees half a file.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).part-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ImageError(path: path, reason: "cannot create: \(String(cString: strerror(errno)))")
        }
        var failure: String?
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno)); return
                }
                offset += written
            }
        }
        if failure == nil && fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
        close(descriptor)
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw ImageError(path: path, reason: "cannot write: \(failure)")
        }
    }

    /// Writes a picture as PNG (16-bit unless `bitDepth` is 8) or half-float EXR, by extension.
    public static func write(_ image: LinearImage, to path: String, bitDepth: Int = 16,
                             compression: LinearImage.PNGCompression = .fast) throws {
        switch format(forPath: path) {
        case .png:
            try writeAtomically(try image.pngData(bitDepth: bitDepth, compression: compression), to: path)
        case .exr:
            try image.writeEXR(path: path)
        case nil:
            throw ImageError(path: path, reason: "unknown image format (use .png or .exr)")
        }
    }
}
