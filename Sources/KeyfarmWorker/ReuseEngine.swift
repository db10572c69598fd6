import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmWire

/// Stands an earlier generation in for a job whose spec names one (`reuse`, written by
/// `keyfarm submit` when a succeeded job of the project asked exactly the same): each of that
/// generation's artifacts must still be in the farm's storage with its recorded checksum. Then
/// they are this job's artifacts, and nothing is rendered or charged. Otherwise the job goes
/// back to the coordinator, which drops the reuse and queues it to render.
struct ReuseEngine: JobEngine {
    func run(_ job: AssignedJob, context: JobContext) -> JobOutcome {
        let reuse: JobSpec.Reuse
        do {
            guard let named = try JobSpec.reuse(in: job.spec), !named.artifacts.isEmpty else {
                return .reuseUnavailable("the spec's reuse names no attempt or no artifacts")
            }
            reuse = named
        } catch {
            return .reuseUnavailable(error.description)
        }
        let source = "\(reuse.shotList) rev \(reuse.revision) \(reuse.jobKey) attempt \(reuse.attempt)"
        var bodies: [ArtifactBody] = []
        for (index, artifact) in reuse.artifacts.enumerated() {
            if context.isCancelled { return .cancelled }
            let path = artifact.path, sha256 = artifact.sha256
            guard artifact.staysInStorage else {
                return .reuseUnavailable("artifact \(index + 1) of \(source) has no relative path (\(path))")
            }
            let file = job.storage + "/" + path
            let actual: String
            if path.contains("%04d") {
                // An EXR sequence: its checksum is that of its frames' listing.
                let frames = artifact.frames ?? 0
                guard let listing = Checksum.sha256HexOfSequence(pattern: file, frames: frames) else {
                    return .reuseUnavailable("\(path) of \(source): a frame of its \(frames) is no longer in storage (\(job.storage))")
                }
                actual = listing
            } else {
                guard FileManager.default.fileExists(atPath: file) else {
                    return .reuseUnavailable("\(path) of \(source) is no longer in storage (\(job.storage))")
                }
                guard let sha = Checksum.sha256Hex(ofFile: file) else {
                    return .reuseUnavailable("\(path) of \(source) cannot be read")
                }
                actual = sha
            }
            guard actual == sha256 else {
                return .reuseUnavailable("\(path) of \(source) changed since it was made (SHA-256 \(actual.prefix(12))…, recorded \(sha256.prefix(12))…)")
            }
            var body = ArtifactBody()
            body.path = path
            body.sha256 = sha256
            body.bytes = artifact.bytes
            body.mediaType = artifact.mediaType
            body.frames = UInt32(clamping: artifact.frames ?? 0)
            bodies.append(body)
            context.progress(Double(index + 1) / Double(reuse.artifacts.count), message: "checked \(path)")
        }
        context.logger.info("reusing \(source): \(bodies.count) artifact(s) intact; nothing rendered, nothing charged")
        return .reused(artifacts: bodies, sourceAttemptID: reuse.attemptID)
    }
}
