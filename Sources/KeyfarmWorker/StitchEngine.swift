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
        let spec = job.specObject
        func int(_ key: String) -> Int? { (spec[key] as? NSNumber)?.intValue }
        guard let shot = spec["shot"] as? String, !shot.isEmpty else { throw Invalid(message: "spec: shot is missing") }
        guard let width = int("width"), let height = int("height") else { throw Invalid(message: "spec: width and height are missing") }
        guard let fps = spec["fps_rational"] as? String, FrameRate(text: fps) != nil else {
            throw Invalid(message: "spec: fps_rational is missing or not a frame rate")
        }
        guard let last = int("end_frame"), last >= 1 else { throw Invalid(message: "spec: end_frame is missing") }
        guard let jobs = spec["segment_jobs"] as? [[String: Any]], !jobs.isEmpty else {
            throw Invalid(message: "spec: segment_jobs is missing (a stitch job planned by an older keyfarm cannot be stitched; submit the shot list again)")
        }
        let outputs = try (spec["outputs"] as? [String] ?? ["mp4"]).map { name in
            guard let format = OutputFormat(rawValue: name) else { throw Invalid(message: "spec: outputs: \"\(name)\" is not mp4, prores, exr or hdr10") }
            return format
        }
        let inputs = spec["inputs"] as? [String: Any] ?? [:]
        let hdr = spec["hdr"] as? Bool == true
        // A delivery at another aspect: the provider's reframes where there are some, the rest
        // cropped from the master at the shot's position.
        let reframe = spec["reframe"] as? [String: Any]
        let crop = try (reframe?["position"] as? [String: Any]).map(Self.cropRegion)
        let pieces = try jobs.enumerated().map { index, document in
            var document = document
            if let stand = document["reframe_job"] as? String {
                document["key"] = stand
                return try piece(document, index: index, inputs: inputs, storage: job.storage, hdr: false)
            }
            var piece = try piece(document, index: index, inputs: inputs, storage: job.storage, hdr: hdr)
            piece.crop = crop
            return piece
        }
        var exrPrimaries = Primaries.rec709
        if let name = spec["exr_colorspace"] as? String {
            guard let colorspace = EXRColorspace(rawValue: name) else {
                throw Invalid(message: "spec: exr_colorspace \"\(name)\" is not one of \(EXRColorspace.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            exrPrimaries = Primaries(colorspace)
        }
        // A draft's deliverables go beside the final's, under `<shot>/draft/`.
        let directory = SegmentStorage.shotDirectory(project: job.project, shotList: job.shotList, shot: shot)
            + (spec["draft"] as? Bool == true ? "/draft" : "")
        var request = StitchRequest(shot: shot, width: width, height: height, frameRate: fps, frameCount: last + 1,
                                    seam: int("seam") ?? 0, outputs: outputs, pieces: pieces,
                                    directory: job.storage + "/" + directory, relativeDirectory: directory,
                                    labels: ["project": job.project, "shot_list": job.shotList, "job": job.key,
                                             "attempt": "\(job.ref.attempt)"])
        request.hdr = hdr
        request.exrPrimaries = exrPrimaries
        if let reframe {
            guard let tag = reframe["tag"] as? String, tag.range(of: "^[0-9]+x[0-9]+$", options: .regularExpression) != nil else {
                throw Invalid(message: "spec: reframe has no tag such as 9x16")
            }
            request.variant = tag
        }
        return request
    }

    /// The region of the master a delivery at another aspect shows, for a source placed at
    /// `{x_norm, y_norm, w_norm, h_norm}` of the new frame: what of the source falls inside it
    /// (a region past the master's edges stops at them).
    static func cropRegion(_ position: [String: Any]) throws -> [Double] {
        let v = ["x_norm", "y_norm", "w_norm", "h_norm"].map { (position[$0] as? NSNumber)?.doubleValue }
        guard let x = v[0], let y = v[1], let w = v[2], let h = v[3], w > 0, h > 0 else {
            throw Invalid(message: "spec: reframe position needs x_norm, y_norm, w_norm and h_norm")
        }
        let region = [max(0, -x / w), max(0, -y / h), min(1, (1 - x) / w), min(1, (1 - y) / h)]
        guard region[2] > region[0], region[3] > region[1] else {
            throw Invalid(message: "spec: the reframe position puts the source outside the new frame")
        }
        return region
    }

    /// One segment's piece. In an HDR stitch, a segment that kept its provider's EXR export
    /// contributes those frames (its truth); otherwise its video or PNG frames.
    static func piece(_ document: [String: Any], index: Int, inputs: [String: Any], storage: String,
                      hdr: Bool = false) throws -> StitchPiece {
        func int(_ key: String) -> Int? { (document[key] as? NSNumber)?.intValue }
        guard let key = document["key"] as? String, let start = int("start_frame"), let end = int("end_frame") else {
            throw Invalid(message: "spec: segment_jobs[\(index)] needs key, start_frame and end_frame")
        }
        guard let artifacts = inputs[key] as? [[String: Any]], !artifacts.isEmpty else {
            throw Invalid(message: "\(key): no artifacts were recorded for this segment, so there is nothing to stitch")
        }
        func file(_ artifact: [String: Any]) throws -> StitchSourceFile {
            guard let path = artifact["path"] as? String, !path.hasPrefix("/"), !path.split(separator: "/").contains(".."),
                  let sha = artifact["sha256"] as? String else {
                throw Invalid(message: "\(key): an artifact has no relative path or checksum")
            }
            return StitchSourceFile(path: storage + "/" + path, artifact: path, sha256: sha)
        }
        func mediaType(_ artifact: [String: Any]) -> String { artifact["media_type"] as? String ?? "" }
        let source: StitchPiece.Source
        if hdr, let listing = artifacts.first(where: { mediaType($0) == EXRExport.mediaType }) {
            let listed = try file(listing)
            let frames: [EXRExport.Frame]
            do {
                frames = try EXRExport.readListing(listed.path, sha256: listed.sha256)
            } catch let refused as EXRExport.Refused {
                throw Invalid(message: "\(key): \(refused.description)")
            }
            source = .exrFrames(try frames.map { try file(["path": $0.path, "sha256": $0.sha256]) })
        } else if let video = artifacts.first(where: { mediaType($0) == "video/mp4" }) {
            source = .video(try file(video))
        } else {
            let frames = try artifacts.filter { mediaType($0) == "image/png" }.map(file)
            guard !frames.isEmpty else { throw Invalid(message: "\(key): its artifacts hold neither a video nor PNG frames") }
            source = .frames(frames)
        }
        // A provider segment's record names the request behind it, for the manifest.
        let record = artifacts.first(where: { mediaType($0) == GenerationRecord.mediaType })
            .flatMap { try? file($0) }.flatMap { GenerationRecord.read($0.path) }
        let provider = record?.provider, requestID = record?.requestID
        // Artifacts live in `.../attempt-<n>/`: the manifest names the attempt.
        let attempt = (artifacts.first?["path"] as? String)?.split(separator: "/")
            .first(where: { $0.hasPrefix("attempt-") }).flatMap { Int($0.dropFirst("attempt-".count)) }
        return StitchPiece(key: key, segmentIndex: int("segment_index") ?? index, part: int("part") ?? 1,
                           startFrame: start, endFrame: end, engine: document["engine"] as? String ?? "",
                           attempt: attempt, provider: provider, requestID: requestID, source: source,
                           usedSourceFrames: int("end_position").map { $0 + 1 }, take: int("take") ?? 1)
    }
}
