import Foundation
import KeyfarmCore
import KeyfarmMedia

/// A shot list read from disk: its text (kept for provenance) and the validated model.
public struct ShotListFile {
    public var path: String
    public var text: String
    public var list: ShotList

    /// Shot lists are small; anything larger is a mistake (a video passed by accident).
    static let maximumSize = 4 * 1024 * 1024

    /// Reads and validates a shot list; every problem is thrown at once as `ShotListInvalid`.
    public static func load(_ path: String) throws -> ShotListFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw HarnessFailure("\(path): no such file", status: HarnessFailure.noInput)
        }
        guard !isDirectory.boolValue else {
            throw HarnessFailure("\(path): is a directory; give a shot list file (.yaml or .json)", status: HarnessFailure.noInput)
        }
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            data = try handle.read(upToCount: maximumSize + 1) ?? Data()
        } catch {
            throw HarnessFailure("\(path): cannot be read (\(error.localizedDescription))", status: HarnessFailure.noInput)
        }
        guard data.count <= maximumSize else {
            throw HarnessFailure("\(path): larger than \(maximumSize / 1024 / 1024) MiB; is it really a shot list?",
                                 status: HarnessFailure.invalidData)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw HarnessFailure("\(path): not UTF-8 text; a shot list is a YAML or JSON file", status: HarnessFailure.invalidData)
        }
        return ShotListFile(path: path, text: text, list: try decode(text, path: path))
    }

    /// Validates a shot list's text as if read from `path` (its images relative to that
    /// folder), with each local image's content hash.
    public static func decode(_ text: String, path: String) throws -> ShotList {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        let decoder = ShotListDecoder(file: path, directory: directory, inspector: FileImageInspector())
        var list = try decoder.decode(text)
        // Each local keyframe image's content hash: jobs name what they send, so a provider that
        // keeps uploaded files gets each distinct image once.
        var hashes: [String: String] = [:]
        for shot in list.shots {
            for case .file(_, let image)? in shot.keyframes.map(\.image) where hashes[image] == nil {
                hashes[image] = Checksum.sha256Hex(ofFile: image)
            }
        }
        for index in list.shots.indices {
            list.shots[index].imageHashes = hashes.filter { path, _ in
                list.shots[index].keyframes.contains { if case .file(_, path)? = $0.image { true } else { false } }
            }
        }
        return list
    }

    /// Every shot rendered as a draft (`submit --draft`).
    public mutating func markDraft() {
        for index in list.shots.indices { list.shots[index].draft = true }
    }
}

extension ShotListFile {
    /// Throws every fal or WaveSpeed segment that ends on an image its model has no known
    /// end-frame field for, as shot-list errors (exit 65).
    public func requireModelInputs(_ models: ModelInputTable) throws(ShotListInvalid) {
        let issues = list.modelInputIssues(models)
        if !issues.isEmpty { throw ShotListInvalid(issues: issues) }
    }
}

/// Tells PNG from EXR by the first bytes of a file, whatever its name says.
public struct FileImageInspector: ImageInspecting {
    public init() {}

    public func inspect(path: String) -> ImageFileKind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .missing }
        if isDirectory.boolValue { return .directory }
        let header: [UInt8]
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            header = Array(try handle.read(upToCount: 8) ?? Data())
        } catch {
            return .unreadable(reason: error.localizedDescription)
        }
        let signature = ImageSignature(header: header)
        if signature == .png { return .png }
        if signature == .exr { return .exr }
        if header.isEmpty { return .unsupported(detail: "the file is empty") }
        let hex = header.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
        var guess = ""
        if signature == .jpeg { guess = ", a JPEG" }
        else if header.starts(with: Array("GIF8".utf8)) { guess = ", a GIF" }
        else if header.starts(with: Array("RIFF".utf8)) { guess = ", a RIFF file (WebP?)" }
        else if header.starts(with: [0x49, 0x49, 0x2A, 0x00]) || header.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { guess = ", a TIFF" }
        return .unsupported(detail: "starts with \(hex)\(guess)")
    }
}
