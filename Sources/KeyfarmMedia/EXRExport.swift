import Foundation
import KeyfarmProcess

/// A provider's HDR export, unpacked into the segment's folder as its truth: one EXR file per
/// frame and a listing of them with their checksums.
///
/// Luma does not publish the export's container. Accepted, told apart by their bytes: a zip
/// of EXR frames (taken in name order) and a single EXR file (each part a frame). Every frame
/// is read through OpenEXR (DWAB and every other compression) before it is kept, never
/// clamped; anything else is refused with what was found.
public enum EXRExport {
    /// The listing's media type, as the artifact reports it.
    public static let mediaType = "application/vnd.keyfarm.exr-frames+json"
    /// The most frames one export may hold (a 10 s clip has 241).
    public static let maxFrames = 2_000

    /// What was kept: the listing (relative to the storage root), its checksum and size, and the frames.
    public struct Unpacked: Sendable, Equatable {
        public var listing: String
        public var sha256: String
        public var bytes: Int64
        public var frames: [Frame]
    }

    /// One frame file, relative to the storage root, with its checksum.
    public struct Frame: Sendable, Equatable, Codable {
        public var path: String
        public var sha256: String

        public init(path: String, sha256: String) {
            self.path = path
            self.sha256 = sha256
        }
    }

    /// Why an export cannot be used; asking the provider again would give the same.
    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    /// Unpacks `archive` into `folder` (replacing what is there) and writes `frames.json` beside
    /// the frames. `storage` is the root the listing's paths are relative to.
    public static func unpack(_ archive: String, into folder: String, relativeTo storage: String,
                              unzip: String = "/usr/bin/unzip") throws -> Unpacked {
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: folder)
        try fileManager.createDirectory(atPath: folder, withIntermediateDirectories: true)
        guard let handle = FileHandle(forReadingAtPath: archive) else { throw Refused(description: "the download is missing") }
        let magic = [UInt8](handle.readData(ofLength: 4))
        try? handle.close()
        var names: [String] = []
        switch magic {
        case [0x50, 0x4B, 0x03, 0x04]:
            names = try unzipFrames(archive, into: folder, unzip: unzip)
        case [0x76, 0x2F, 0x31, 0x01]:
            let info: EXRCodec.Info
            do { info = try EXRCodec.info(path: archive) } catch { throw Refused(description: "\(error)") }
            guard info.parts <= maxFrames else { throw Refused(description: "an EXR file of \(info.parts) parts; at most \(maxFrames) frames") }
            // Each part a frame: rewritten losslessly (half to half, ZIP) one file a frame.
            for part in 0..<info.parts {
                let frame: EXRCodec.Frame
                do { frame = try EXRCodec.read(path: archive, part: part) } catch { throw Refused(description: "part \(part): \(error)") }
                let name = String(format: "frame_%04d.exr", part)
                let primaries = frame.info.chromaticities.flatMap(Primaries.init(chromaticities:)) ?? .ap0
                try EXRCodec.write(frame.image, path: folder + "/" + name, compression: "zip", primaries: primaries)
                names.append(name)
            }
        default:
            let shown = magic.isEmpty ? "is empty" : "starts with " + magic.map { String(format: "%02x", $0) }.joined(separator: " ")
            throw Refused(description: "it is neither a zip of EXR frames nor an EXR file: it \(shown)")
        }
        guard !names.isEmpty else { throw Refused(description: "it holds no EXR frames") }
        let prefix = storage.hasSuffix("/") ? storage : storage + "/"
        guard folder.hasPrefix(prefix) else { throw Refused(description: "\(folder) is outside the storage root \(storage)") }
        let relative = String(folder.dropFirst(prefix.count))
        var frames: [Frame] = []
        var size: (width: Int, height: Int)?
        for name in names {
            let path = folder + "/" + name
            // Read every frame now: a corrupt one is found here, not in the stitch.
            let frame: EXRCodec.Frame
            do { frame = try EXRCodec.read(path: path) } catch { throw Refused(description: "\(name): \(error)") }
            if let size, size != (frame.image.width, frame.image.height) {
                throw Refused(description: "\(name) is \(frame.image.width)x\(frame.image.height), the frames before it \(size.width)x\(size.height)")
            }
            size = (frame.image.width, frame.image.height)
            guard let sha = Checksum.sha256Hex(ofFile: path) else { throw Refused(description: "\(name) cannot be read back") }
            frames.append(Frame(path: relative + "/" + name, sha256: sha))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let listing = try encoder.encode(frames)
        try ImageFile.writeAtomically(listing, to: folder + "/frames.json")
        return Unpacked(listing: relative + "/frames.json", sha256: Checksum.sha256Hex(listing), bytes: Int64(listing.count),
                        frames: frames)
    }

    /// The listing a segment recorded: its frames, checked against `sha256` first.
    public static func readListing(_ path: String, sha256: String) throws -> [Frame] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Refused(description: "\(path) is missing") }
        guard Checksum.sha256Hex(data) == sha256 else { throw Refused(description: "\(path) does not match its checksum") }
        do { return try JSONDecoder().decode([Frame].self, from: data) } catch { throw Refused(description: "\(path): \(error)") }
    }

    /// Extracts a zip's `.exr` entries (no folders, no other files, no paths that climb out).
    static func unzipFrames(_ archive: String, into folder: String, unzip: String) throws -> [String] {
        let list = try ChildProcess(executable: unzip, arguments: ["-Z1", archive], environment: [:]).run()
        guard list.status == 0 else { throw Refused(description: "a zip unzip cannot read: \(list.tail(2))") }
        let entries = list.output.split(separator: "\n").map(String.init).filter { !$0.hasSuffix("/") }
        guard entries.count <= maxFrames else { throw Refused(description: "a zip of \(entries.count) files; at most \(maxFrames) frames") }
        for entry in entries {
            guard entry.lowercased().hasSuffix(".exr") else {
                throw Refused(description: "a zip holding \(entry.debugDescription), which is not an EXR frame")
            }
            guard !entry.hasPrefix("/"), !entry.split(separator: "/").contains(".."), !entry.contains("\\") else {
                throw Refused(description: "a zip entry \(entry.debugDescription) that would land outside its folder")
            }
        }
        let names = entries.map { ($0 as NSString).lastPathComponent }
        guard Set(names).count == names.count else { throw Refused(description: "a zip with two frames of one name") }
        let extract = try ChildProcess(executable: unzip, arguments: ["-q", "-o", "-j", archive, "-d", folder], environment: [:]).run()
        guard extract.status == 0 else { throw Refused(description: "a zip unzip could not extract: \(extract.tail(2))") }
        return names.sorted()
    }
}
