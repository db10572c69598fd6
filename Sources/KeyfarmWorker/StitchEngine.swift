import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmWire

/// Runs a shot's `stitch` job: reads every segment job's artifacts (handed over in the spec's
/// `inputs`), and writes the shot's deliverables with `Stitcher` into
/// `<storage>/<project>/<shot list>/<shot>/`.
///
/// A segment's artifacts say what it is: a `video/mp4` (a provider's clip, with its
/// `generation.json` naming the provider and request) or a PNG sequence (`interpolate`).
/// Missing or corrupt artifacts fail the stitch as `invalid`: trying again cannot mend them.
public struct StitchEngine: JobEngine {
    public var stitcher: Stitcher

    public init(stitcher: Stitcher = Stitcher()) { self.stitcher = stitcher }

    struct Invalid: Error { var message: String }

    public func run(_ job: AssignedJob, context: JobContext) -> JobOutcome {
        let request: StitchRequest
        do {
            request = try Self.request(for: job)
        } catch let invalid as Invalid {
            return .failed(.invalid, invalid.message)
        } catch {
            return .failed(.invalid, "\(error)")
        }
        do {
            try FileManager.default.createDirectory(atPath: request.directory, withIntermediateDirectories: true)
        } catch {
            return .failed(.transient, "\(request.directory): cannot create the shot's folder: \(error.localizedDescription)")
        }
        context.progress(0, message: "stitching \(request.frameCount) frames", force: true)
        context.logger.info("stitching", metadata: ["frames": "\(request.frameCount)", "directory": "\(request.directory)"])
        let began = ContinuousClock.now
        do {
            let outputs = try stitcher.stitch(request, progress: { done, total in
                context.progress(Double(done) / Double(total), message: "frame \(done) of \(total)", force: done == total)
            }, isCancelled: { context.isCancelled })
            for output in outputs {
                context.logger.info("wrote a deliverable", metadata: ["path": "\(output.path)", "frames": "\(output.frames)",
                                                                      "bytes": "\(output.bytes)"])
            }
            context.logger.info("stitched", metadata: [
                "seconds": "\(String(format: "%.2f", (ContinuousClock.now - began) / .seconds(1)))"])
            return .succeeded(artifacts: outputs.map { output in
                var artifact = ArtifactBody()
                artifact.path = output.path
                artifact.sha256 = output.sha256
                artifact.bytes = output.bytes
                artifact.mediaType = output.mediaType
                artifact.frames = UInt32(output.frames)
                return artifact
            })
        } catch is Stitcher.Cancelled {
            return .cancelled
        } catch let error as StitchError {
            return .failed(error.kind == .invalid ? .invalid : .transient, error.description)
        } catch {
            return .failed(.transient, "\(error)")
        }
    }

    /// The stitch request a job's spec and inputs describe (see proto/PROTOCOL.md).
    static func request(for job: AssignedJob) throws -> StitchRequest {
        let spec: StitchSpec
        do {
            spec = try StitchSpec(json: job.spec)
        } catch {
            throw Invalid(message: error.description)
        }
        guard !spec.shot.isEmpty else { throw Invalid(message: "spec: shot is missing") }
        guard spec.endFrame >= 1 else { throw Invalid(message: "spec: end_frame must be 1 or more") }
        guard !spec.segmentJobs.isEmpty else { throw Invalid(message: "spec: segment_jobs is empty") }
        // A delivery at another aspect: the provider's reframes where there are some, the rest
        // cropped from the master at the shot's position.
        var crop: [Double]?
        if case .rect(let x, let y, let w, let h)? = spec.reframe?.position {
            crop = try cropRegion(x: x, y: y, w: w, h: h)
        }
        let pieces = try spec.segmentJobs.enumerated().map { index, entry in
            if let stand = entry.reframeJob {
                return try piece(entry, key: stand, index: index, inputs: spec.inputs, storage: job.storage, hdr: false)
            }
            var piece = try piece(entry, key: entry.key, index: index, inputs: spec.inputs, storage: job.storage, hdr: spec.hdr)
            piece.crop = crop
            return piece
        }
        // A draft's deliverables go beside the final's, under `<shot>/draft/`.
        let directory = SegmentStorage.shotDirectory(project: job.project, shotList: job.shotList, shot: spec.shot)
            + (spec.draft ? "/draft" : "")
        var request = StitchRequest(shot: spec.shot, width: spec.width, height: spec.height, frameRate: spec.fps.description,
                                    frameCount: spec.endFrame + 1, seam: spec.seam, outputs: spec.outputs, pieces: pieces,
                                    directory: job.storage + "/" + directory, relativeDirectory: directory,
                                    labels: ["project": job.project, "shot_list": job.shotList, "job": job.key,
                                             "attempt": "\(job.ref.attempt)"])
        request.hdr = spec.hdr
        request.exrPrimaries = spec.exrColorspace.map(Primaries.init) ?? .rec709
        if let reframe = spec.reframe {
            guard reframe.tag.range(of: "^[0-9]+x[0-9]+$", options: .regularExpression) != nil else {
                throw Invalid(message: "spec: reframe.tag \"\(reframe.tag)\" is not a tag such as 9x16")
            }
            request.variant = reframe.tag
        }
        return request
    }

    /// The region of the master a delivery at another aspect shows, for a source placed at
    /// `{x_norm, y_norm, w_norm, h_norm}` of the new frame: what of the source falls inside it
    /// (a region past the master's edges stops at them).
    static func cropRegion(x: Double, y: Double, w: Double, h: Double) throws -> [Double] {
        guard w > 0, h > 0 else {
            throw Invalid(message: "spec: reframe.position needs a w_norm and an h_norm above 0")
        }
        let region = [max(0, -x / w), max(0, -y / h), min(1, (1 - x) / w), min(1, (1 - y) / h)]
        guard region[2] > region[0], region[3] > region[1] else {
            throw Invalid(message: "spec: the reframe position puts the source outside the new frame")
        }
        return region
    }

    /// One segment's piece, from the artifacts of the job `key` (the segment job, or the
    /// reframe that stands in for it). In an HDR stitch, a segment that kept its provider's EXR
    /// export contributes those frames (its truth); otherwise its video or PNG frames.
    static func piece(_ entry: StitchSpec.Piece, key: String, index: Int, inputs: [String: [JobSpec.Artifact]],
                      storage: String, hdr: Bool = false) throws -> StitchPiece {
        guard let artifacts = inputs[key], !artifacts.isEmpty else {
            throw Invalid(message: "\(key): no artifacts were recorded for this segment, so there is nothing to stitch")
        }
        func file(path: String, sha256: String) throws -> StitchSourceFile {
            guard !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw Invalid(message: "\(key): an artifact has no relative path (\(path))")
            }
            return StitchSourceFile(path: storage + "/" + path, artifact: path, sha256: sha256)
        }
        func file(_ artifact: JobSpec.Artifact) throws -> StitchSourceFile { try file(path: artifact.path, sha256: artifact.sha256) }
        let source: StitchPiece.Source
        if hdr, let listing = artifacts.first(where: { $0.mediaType == EXRExport.mediaType }) {
            let listed = try file(listing)
            let frames: [EXRExport.Frame]
            do {
                frames = try EXRExport.readListing(listed.path, sha256: listed.sha256)
            } catch let refused as EXRExport.Refused {
                throw Invalid(message: "\(key): \(refused.description)")
            }
            source = .exrFrames(try frames.map { try file(path: $0.path, sha256: $0.sha256) })
        } else if let video = artifacts.first(where: { $0.mediaType == "video/mp4" }) {
            source = .video(try file(video))
        } else {
            let frames = try artifacts.filter { $0.mediaType == "image/png" }.map(file)
            guard !frames.isEmpty else { throw Invalid(message: "\(key): its artifacts hold neither a video nor PNG frames") }
            source = .frames(frames)
        }
        // A provider segment's record names the request behind it, for the manifest.
        let record = artifacts.first(where: { $0.mediaType == GenerationRecord.mediaType })
            .flatMap { try? file($0) }.flatMap { GenerationRecord.read($0.path) }
        // Artifacts live in `.../attempt-<n>/`: the manifest names the attempt.
        let attempt = artifacts[0].path.split(separator: "/")
            .first(where: { $0.hasPrefix("attempt-") }).flatMap { Int($0.dropFirst("attempt-".count)) }
        return StitchPiece(key: key, segmentIndex: entry.segmentIndex ?? index, part: entry.part,
                           startFrame: entry.startFrame, endFrame: entry.endFrame, engine: entry.engine,
                           attempt: attempt, provider: record?.provider, requestID: record?.requestID, source: source,
                           usedSourceFrames: entry.endPosition.map { $0 + 1 }, take: entry.take)
    }
}
