import Foundation
import KeyfarmMedia
import KeyfarmProcess

/// Where a segment's artifacts live under the farm's storage root, and the small atomic
/// writes that put them there: `<project>/<shot_list>/<shot>/segments/<key>/attempt-<n>/`,
/// with the job key's `/` turned into `_` (`sh010/s1p2` becomes `sh010_s1p2`).
enum SegmentStorage {
    /// A file written and checksummed.
    struct Written {
        var path: String
        var sha256: String
        var bytes: Int64
    }

    /// A shot's folder, `<project>/<shot_list>/<shot>`: its segments below, its deliverables in it.
    static func shotDirectory(project: String, shotList: String, shot: String) -> String {
        [safe(project), safe(shotList), safe(shot)].joined(separator: "/")
    }

    static func directory(project: String, shotList: String, shot: String, key: String, attempt: Int) -> String {
        shotDirectory(project: project, shotList: shotList, shot: shot) + "/segments/\(safe(key))/attempt-\(attempt)"
    }

    /// A job's segment directory, for its shot (the spec's `shot`).
    static func directory(for job: AssignedJob, shot: String) -> String {
        directory(project: job.project, shotList: job.shotList, shot: shot, key: job.key, attempt: job.ref.attempt)
    }

    /// A single path component: `/` becomes `_`, and `.`/`..` cannot escape the tree.
    static func safe(_ name: String) -> String {
        let flat = name.replacingOccurrences(of: "/", with: "_")
        return flat.isEmpty || flat == "." || flat == ".." ? "_" : flat
    }

    /// Writes `bytes` atomically (temporary name, fsync, rename) and checksums them.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws -> Written {
        try ImageFile.writeAtomically(Data(bytes), to: path)
        return Written(path: path, sha256: Checksum.sha256Hex(bytes), bytes: Int64(bytes.count))
    }

    /// Decodes the video to its end with ffmpeg and keeps its last frame as an RGB PNG.
    /// With `through`, the frame at that index (or the clip's last, if it is shorter): a
    /// multi-keyframe generation's segment ends at its last keyframe's grid position, and the
    /// billed clip may run on past it.
    static func extractLastFrame(ffmpeg: String, video: String, through: Int? = nil, to path: String) throws -> Written {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".last-\(UUID().uuidString).png").path
        defer { unlink(temporary) }
        // The last frame: seek to the last second and reverse it, so that only the clip's last
        // frame is converted and written, whatever its length or frame rate. Through a frame:
        // let `-update 1` overwrite one image per decoded frame up to it (the file left is that
        // frame, or the clip's last); reversing the whole span would hold it all in memory.
        let input = through.map { ["-i", video, "-vf", "select=lte(n\\,\($0))", "-fps_mode", "passthrough", "-update", "1"] }
            ?? ["-sseof", "-1", "-i", video, "-vf", "reverse", "-frames:v", "1"]
        let outcome = try ChildProcess(executable: ffmpeg, arguments: ["-nostdin", "-hide_banner", "-v", "error"] + input + [
            "-pix_fmt", "rgb24", "-f", "image2", "-y", temporary,
        ], environment: ProcessInfo.processInfo.environment).run()
        guard outcome.status == 0, let data = FileManager.default.contents(atPath: temporary), !data.isEmpty else {
            throw SegmentStorageError("ffmpeg could not extract the last frame (exit \(outcome.status)): \(outcome.tail(5))")
        }
        return try writeAtomically([UInt8](data), to: path)
    }
}

struct SegmentStorageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `generation.json` beside a provider segment's video: which request made it, so a chained
/// segment on the same API can continue it by id and the stitcher's manifest can name it.
struct GenerationRecord: Codable, Equatable {
    static let mediaType = "application/vnd.keyfarm.generation+json"

    var provider: String
    var api: String
    var engine: String
    var requestID: String
    var videoSHA256: String
    /// True when the segment ends before the clip does (its last keyframe sat before the end of
    /// the billed clip): the generation's own last frame is then not the segment's, and a
    /// continuation must send the extracted frame rather than the generation's id.
    var trimmed: Bool? = nil

    enum CodingKeys: String, CodingKey {
        case provider, api, engine, trimmed
        case requestID = "request_id"
        case videoSHA256 = "video_sha256"
    }

    func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return [UInt8]((try? encoder.encode(self)) ?? Data("{}".utf8))
    }

    static func read(_ path: String) -> GenerationRecord? {
        guard let data = FileManager.default.contents(atPath: path), data.count < 65_536 else { return nil }
        return try? JSONDecoder().decode(GenerationRecord.self, from: data)
    }
}
