import Crypto
import Foundation
import KeyfarmCore
import KeyfarmWire
@testable import KeyfarmWorker
import Testing

/// The worker's side of reuse: an earlier generation's artifacts stand in only when every one
/// of them is still in storage with its recorded checksum.
@Suite struct ReuseEngineTests {
    static func sha(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    /// A storage folder with a clip, and a three-frame EXR sequence (its checksum that of its listing).
    static func storage() throws -> (root: String, artifacts: [[String: Any]]) {
        let root = NSTemporaryDirectory() + "reuse-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/p/sh010/exr", withIntermediateDirectories: true)
        let clip = Data("clip bytes".utf8)
        try clip.write(to: URL(fileURLWithPath: root + "/p/sh010/video.mp4"))
        var listing = ""
        for index in 0..<3 {
            let frame = Data("frame \(index)".utf8)
            let name = String(format: "sh010.%04d.exr", index)
            try frame.write(to: URL(fileURLWithPath: root + "/p/sh010/exr/" + name))
            listing += "\(sha(frame))  \(name)\n"
        }
        return (root, [
            ["path": "p/sh010/video.mp4", "sha256": sha(clip), "bytes": clip.count, "media_type": "video/mp4"],
            ["path": "p/sh010/exr/sh010.%04d.exr", "sha256": sha(Data(listing.utf8)), "bytes": 21, "frames": 3,
             "media_type": "image/x-exr"],
        ])
    }

    static func job(root: String, artifacts: [[String: Any]]) throws -> AssignedJob {
        let reuse: [String: Any] = ["attempt_id": 41, "attempt": 1, "job_id": 9, "job_key": "sh010/s0", "shot_list": "rev",
                                    "revision": 1, "artifacts": artifacts]
        let spec = String(decoding: try JSONSerialization.data(withJSONObject: ["key": "sh010/s0", "reuse": reuse]), as: UTF8.self)
        return AssignedJob(ref: AttemptRef(jobID: 12, attempt: 1), key: "sh010/s0", kind: "segment", engine: "luma/ray-2",
                           spec: spec, shotList: "rev", project: "p", resumeProviderRequestID: nil, storage: root)
    }

    func run(_ job: AssignedJob) -> JobOutcome {
        ReuseEngine().run(job, context: JobContext(job: job, control: JobControl()) { _ in })
    }

    @Test func intactArtifactsStandInAndNameTheirSource() throws {
        let (root, artifacts) = try Self.storage()
        defer { try? FileManager.default.removeItem(atPath: root) }
        guard case .reused(let bodies, let source) = run(try Self.job(root: root, artifacts: artifacts)) else {
            Issue.record("expected reused"); return
        }
        #expect(source == 41)
        #expect(bodies.map(\.path) == ["p/sh010/video.mp4", "p/sh010/exr/sh010.%04d.exr"])
        #expect(bodies[1].frames == 3 && bodies[1].mediaType == "image/x-exr")
    }

    @Test func aMissingOrChangedFileSendsTheJobBackToRender() throws {
        let (root, artifacts) = try Self.storage()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data("another frame".utf8).write(to: URL(fileURLWithPath: root + "/p/sh010/exr/sh010.0001.exr"))
        guard case .reuseUnavailable(let reason) = run(try Self.job(root: root, artifacts: artifacts)) else {
            Issue.record("expected reuseUnavailable"); return
        }
        #expect(reason.contains("p/sh010/exr/sh010.%04d.exr of rev rev 1 sh010/s0 attempt 1 changed since it was made"), "\(reason)")
        try FileManager.default.removeItem(atPath: root + "/p/sh010/video.mp4")
        guard case .reuseUnavailable(let missing) = run(try Self.job(root: root, artifacts: artifacts)) else {
            Issue.record("expected reuseUnavailable"); return
        }
        #expect(missing.contains("p/sh010/video.mp4 of rev rev 1 sh010/s0 attempt 1 is no longer in storage"), "\(missing)")
        // A path that leaves the storage root is refused outright.
        var escaping = artifacts
        escaping[0]["path"] = "../etc/passwd"
        guard case .reuseUnavailable(let refused) = run(try Self.job(root: root, artifacts: escaping)) else {
            Issue.record("expected reuseUnavailable"); return
        }
        #expect(refused.contains("no relative path"))
    }
}
