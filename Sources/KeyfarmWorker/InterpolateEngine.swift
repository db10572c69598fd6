import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmWire

/// Renders a segment whose engine is `interpolate`: every frame between its two keyframe
/// images, synthesised locally, written to storage as a 16-bit PNG sequence.
///
/// The frames go to `<storage>/<project>/<shot list>/<shot>/segments/<job key, '/' as '_'>/attempt-<n>/`,
/// written into a hidden temporary folder beside it that is renamed into place only when
/// every frame is there, so the coordinator never records a partial sequence.
public struct InterpolateEngine: JobEngine {
    public init() {}

    /// A job that cannot succeed however often it is tried.
    struct Invalid: Error { var message: String }

    public func run(_ job: AssignedJob, context: JobContext) -> JobOutcome {
        do {
            let spec = try SegmentSpec(json: job.spec)
            let frames = spec.frames, width = spec.width, height = spec.height
            guard frames >= 2, frames <= 10_000 else {
                throw Invalid(message: "spec: frames must be a number from 2 to 10000")
            }
            guard (16...ImageLimits.maxSide).contains(width), (16...ImageLimits.maxSide).contains(height) else {
                throw Invalid(message: "spec: width and height must be numbers from 16 to \(ImageLimits.maxSide)")
            }
            let fit = Resampler.Fit(rawValue: spec.fit ?? "crop") ?? .crop
            if spec.hdr {
                return try renderHDR(job, spec: spec, fit: fit, context: context)
            }
            context.progress(0, message: "reading keyframes", force: true)
            let start = try keyframe(spec.startImage, field: "start_image", job: job, spec: spec)
            let end = try keyframe(spec.endImage, field: "end_image", job: job, spec: spec)
            if context.isCancelled { return .cancelled }
            let a = Resampler.conform(start, width: width, height: height, fit: fit)
            let b = Resampler.conform(end, width: width, height: height, fit: fit)
            context.logger.info("interpolating", metadata: ["frames": "\(frames)", "size": "\(width)x\(height)", "fit": "\(fit.rawValue)"])
            let began = ContinuousClock.now

            let relative = SegmentStorage.directory(for: job, shot: spec.shot)
            let final = job.storage + "/" + relative
            let parent = (final as NSString).deletingLastPathComponent
            let temporary = parent + "/.attempt-\(job.ref.attempt).part-\(UInt32.random(in: 0...UInt32.max))"
            do {
                try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            } catch {
                return .failed(.transient, "\(temporary): cannot create the segment folder: \(error.localizedDescription)")
            }
            var keep = false
            defer { if !keep { try? FileManager.default.removeItem(atPath: temporary) } }

            let output: FrameSequence.Output
            do {
                output = try FrameSequence(start: a, end: b, count: frames).write(
                    into: temporary,
                    progress: { done, total in
                        context.progress(0.05 + 0.95 * Double(done) / Double(total), message: "frame \(done) of \(total)",
                                         force: done == total)
                    },
                    isCancelled: { context.isCancelled })
            } catch is FrameSequence.Cancelled {
                return .cancelled
            } catch {
                return .failed(.transient, "writing the frames: \(error)")
            }
            // A retry of the same attempt number (after a worker restart) replaces what it left.
            try? FileManager.default.removeItem(atPath: final)
            guard rename(temporary, final) == 0 else {
                return .failed(.transient, "\(final): cannot move the frames into place: \(String(cString: strerror(errno)))")
            }
            keep = true
            context.logger.info("frames written", metadata: [
                "frames": "\(output.frames.count)", "path": "\(relative)",
                "seconds": "\(String(format: "%.2f", (ContinuousClock.now - began) / .seconds(1)))"])
            let artifacts = output.frames.map { frame -> ArtifactBody in
                var artifact = ArtifactBody()
                artifact.path = relative + "/" + FrameSequence.name(frame.index)
                artifact.sha256 = frame.sha256
                artifact.bytes = frame.bytes
                artifact.mediaType = "image/png"
                return artifact
            }
            return .succeeded(artifacts: artifacts)
        } catch let invalid as Invalid {
            return .failed(.invalid, invalid.message)
        } catch let unreadable as JobSpecError {
            return .failed(.invalid, unreadable.description)
        } catch let error as ImageError {
            return .failed(.invalid, error.description)
        } catch {
            return .failed(.transient, "\(error)")
        }
    }

    /// Loads one end of the segment from its image (see proto/PROTOCOL.md).
    func keyframe(_ image: JobSpec.Image?, field: String, job: AssignedJob, spec: SegmentSpec) throws -> LinearImage {
        guard let image else {
            throw Invalid(message: "spec: \(field) is missing; interpolate needs an image at both ends of a segment")
        }
        switch image {
        case .file(let path, _):
            guard path.hasPrefix("/") else { throw Invalid(message: "spec: \(field).path must be an absolute path") }
            return try ImageFile.read(path)
        case .lastFrameOf(let key):
            guard let artifacts = spec.inputs[key] else {
                throw Invalid(message: "spec: \(field) is the last frame of \(key), but inputs has no artifacts for \(key)")
            }
            guard let last = artifacts.last(where: { $0.mediaType == "image/png" }), last.staysInStorage else {
                throw Invalid(message: "spec: \(field): job \(key) left no PNG frame to continue from")
            }
            return try ImageFile.read(job.storage + "/" + last.path)
        case .url(let url):
            throw Invalid(message: "spec: \(field) is a URL (\(url)); interpolate reads only files in shared storage")
        }
    }
}
