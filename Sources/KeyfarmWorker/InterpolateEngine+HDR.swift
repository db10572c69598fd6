import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmWire

extension InterpolateEngine {
    /// An HDR shot's segment: keyframes read in scene-linear light (EXR as they are, in the
    /// primaries their chromaticities name, linear Rec.709 when they name none; PNG from sRGB),
    /// taken to ACES2065-1, interpolated without clamping, and written as half-float EXR frames
    /// (ZIP, AP0) with a checksummed listing, the segment's truth for the stitch. A tone-mapped
    /// `last_frame.png` rides along for a provider segment that continues from it.
    func renderHDR(_ job: AssignedJob, spec: SegmentSpec, fit: Resampler.Fit, context: JobContext) throws -> JobOutcome {
        let frames = spec.frames, width = spec.width, height = spec.height
        context.progress(0, message: "reading keyframes", force: true)
        let start = try hdrKeyframe(spec.startImage, field: "start_image", job: job, spec: spec)
        let end = try hdrKeyframe(spec.endImage, field: "end_image", job: job, spec: spec)
        if context.isCancelled { return .cancelled }
        let a = Resampler.conform(start, width: width, height: height, fit: fit)
        let b = Resampler.conform(end, width: width, height: height, fit: fit)
        let relative = SegmentStorage.directory(for: job, shot: spec.shot)
        let final = job.storage + "/" + relative
        let parent = (final as NSString).deletingLastPathComponent
        let temporary = parent + "/.attempt-\(job.ref.attempt).part-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try FileManager.default.createDirectory(atPath: temporary + "/exr", withIntermediateDirectories: true)
        } catch {
            return .failed(.transient, "\(temporary): cannot create the segment folder: \(error.localizedDescription)")
        }
        var keep = false
        defer { if !keep { try? FileManager.default.removeItem(atPath: temporary) } }
        context.logger.info("interpolating in HDR", metadata: ["frames": "\(frames)", "size": "\(width)x\(height)"])
        let interpolator = Interpolator(start: a, end: b)
        var listing: [EXRExport.Frame] = []
        var last = a
        for index in 0..<frames {
            if context.isCancelled { return .cancelled }
            let frame = interpolator.frame(at: Double(index) / Double(frames - 1))
            let name = String(format: "exr/frame_%04d.exr", index)
            try EXRCodec.write(frame, path: temporary + "/" + name, compression: "zip", primaries: .ap0)
            guard let sha = Checksum.sha256Hex(ofFile: temporary + "/" + name) else {
                return .failed(.transient, "\(name): cannot be read back")
            }
            listing.append(EXRExport.Frame(path: relative + "/" + name, sha256: sha))
            last = frame
            context.progress(0.05 + 0.9 * Double(index + 1) / Double(frames), message: "frame \(index + 1) of \(frames)",
                             force: index + 1 == frames)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let listingData = try encoder.encode(listing)
        try ImageFile.writeAtomically(listingData, to: temporary + "/exr/frames.json")
        let preview = try VideoFrame(last.converted(Primaries.ap0.matrix(to: .rec709)).toneMapped()).pngData()
        try ImageFile.writeAtomically(preview, to: temporary + "/last_frame.png")
        try? FileManager.default.removeItem(atPath: final)
        guard rename(temporary, final) == 0 else {
            return .failed(.transient, "\(final): cannot move the frames into place: \(String(cString: strerror(errno)))")
        }
        keep = true
        var frameListing = ArtifactBody()
        frameListing.path = relative + "/exr/frames.json"
        frameListing.sha256 = Checksum.sha256Hex(listingData)
        frameListing.bytes = Int64(listingData.count)
        frameListing.mediaType = EXRExport.mediaType
        frameListing.frames = UInt32(frames)
        var lastFrame = ArtifactBody()
        lastFrame.path = relative + "/last_frame.png"
        lastFrame.sha256 = Checksum.sha256Hex(preview)
        lastFrame.bytes = Int64(preview.count)
        lastFrame.mediaType = "image/png"
        return .succeeded(artifacts: [frameListing, lastFrame])
    }

    /// One end of an HDR segment in ACES2065-1.
    func hdrKeyframe(_ image: JobSpec.Image?, field: String, job: AssignedJob, spec: SegmentSpec) throws -> LinearImage {
        guard let image else {
            throw Invalid(message: "spec: \(field) is missing; interpolate needs an image at both ends of a segment")
        }
        func read(_ path: String) throws -> LinearImage {
            let header = FileHandle(forReadingAtPath: path).map { handle in
                defer { try? handle.close() }
                return handle.readData(ofLength: 4)
            } ?? Data()
            if ImageSignature(header: header) == .exr {
                let frame = try EXRCodec.read(path: path)
                let primaries = frame.info.chromaticities.flatMap(Primaries.init(chromaticities:)) ?? .rec709
                return frame.image.converted(primaries.matrix(to: .ap0))
            }
            return try ImageFile.read(path).converted(Primaries.rec709.matrix(to: .ap0))
        }
        switch image {
        case .file(let path, _):
            guard path.hasPrefix("/") else { throw Invalid(message: "spec: \(field).path must be an absolute path") }
            return try read(path)
        case .lastFrameOf(let key):
            guard let artifacts = spec.inputs[key] else {
                throw Invalid(message: "spec: \(field) is the last frame of a job whose artifacts are not in inputs")
            }
            // An HDR segment before: its last EXR frame; else its last PNG (SDR, display-referred).
            if let listing = artifacts.first(where: { $0.mediaType == EXRExport.mediaType }), listing.staysInStorage {
                let frames = try EXRExport.readListing(job.storage + "/" + listing.path, sha256: listing.sha256)
                if let lastFrame = frames.last { return try read(job.storage + "/" + lastFrame.path) }
            }
            guard let last = artifacts.last(where: { $0.mediaType == "image/png" }), last.staysInStorage else {
                throw Invalid(message: "spec: \(field): job \(key) left no frame to continue from")
            }
            return try read(job.storage + "/" + last.path)
        case .url:
            return try keyframe(image, field: field, job: job, spec: spec).converted(Primaries.rec709.matrix(to: .ap0))
        }
    }
}
