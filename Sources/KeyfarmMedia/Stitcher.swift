import Foundation
import KeyfarmCore
import KeyfarmProcess

/// One rendered piece of a shot: a segment job (or one part of a split segment) and what it left.
public struct StitchPiece: Sendable, Equatable {
    /// Where its frames come from.
    public enum Source: Sendable, Equatable {
        /// A PNG sequence (an `interpolate` segment), first frame to last.
        case frames([StitchSourceFile])
        /// A provider's clip, decoded by ffmpeg and retimed to the planned frame count.
        case video(StitchSourceFile)
    }

    public var key: String
    public var segmentIndex: Int
    public var part: Int
    public var startFrame: Int
    public var endFrame: Int
    public var engine: String
    /// The attempt whose artifacts these are.
    public var attempt: Int?
    public var provider: String?
    public var requestID: String?
    public var source: Source
    /// How many of the source's first frames make the piece, when fewer than all: a
    /// multi-keyframe generation's segment ends at its last keyframe's grid position and the
    /// billed clip may run on past it. Nil uses every frame.
    public var usedSourceFrames: Int?

    public init(key: String, segmentIndex: Int, part: Int = 1, startFrame: Int, endFrame: Int, engine: String,
                attempt: Int? = nil, provider: String? = nil, requestID: String? = nil, source: Source,
                usedSourceFrames: Int? = nil) {
        self.usedSourceFrames = usedSourceFrames
        self.key = key
        self.segmentIndex = segmentIndex
        self.part = part
        self.startFrame = startFrame
        self.endFrame = endFrame
        self.engine = engine
        self.attempt = attempt
        self.provider = provider
        self.requestID = requestID
        self.source = source
    }

    /// The frames it must contribute once retimed, both ends included.
    public var frames: Int { endFrame - startFrame + 1 }
}

/// What to stitch and where: one shot's pieces, its picture, and the deliverables it asks for.
public struct StitchRequest: Sendable {
    public var shot: String
    public var width: Int
    public var height: Int
    /// The frame rate as ffmpeg takes it: `"24"` or `"24000/1001"`.
    public var frameRate: String
    /// The shot's frame count.
    public var frameCount: Int
    public var seam: Int
    public var outputs: [OutputFormat]
    public var pieces: [StitchPiece]
    /// The shot's folder, absolute: deliverables land directly in it.
    public var directory: String
    /// The same folder relative to the storage root, for the paths reported back.
    public var relativeDirectory: String
    /// Extra facts for the manifest (shot list, project, job, attempt).
    public var labels: [String: String]

    public init(shot: String, width: Int, height: Int, frameRate: String, frameCount: Int, seam: Int,
                outputs: [OutputFormat], pieces: [StitchPiece], directory: String, relativeDirectory: String,
                labels: [String: String] = [:]) {
        self.shot = shot
        self.width = width
        self.height = height
        self.frameRate = frameRate
        self.frameCount = frameCount
        self.seam = seam
        self.outputs = outputs
        self.pieces = pieces
        self.directory = directory
        self.relativeDirectory = relativeDirectory
        self.labels = labels
    }
}

/// A deliverable the stitcher wrote and checked.
public struct StitchOutput: Sendable, Equatable, Codable {
    /// `mp4`, `prores`, `exr` or `manifest`.
    public var format: String
    /// Relative to the storage root. An EXR sequence is named by its pattern, `exr/<shot>.%04d.exr`.
    public var path: String
    public var frames: Int
    public var bytes: Int64
    /// SHA-256 of the file; for an EXR sequence, of its `sha256sum`-style listing
    /// (`<hex>  <name>\n` per frame, in order).
    public var sha256: String
    public var mediaType: String
}

/// Turns a shot's rendered pieces into its deliverables: MP4 (H.264, yuv420p, Rec.709 tags
/// in the stream), ProRes 422 HQ (prores_ks, 10-bit, .mov), a half-float linear EXR sequence
/// (ZIP, Rec.709 chromaticities) and `manifest.json`.
///
/// Frames flow once through the process: each piece is read (PNG sequences directly, videos
/// through an ffmpeg decoder), conformed and retimed, laid out by `StitchTimeline`, then piped
/// as 16-bit RGB into one ffmpeg that writes every video deliverable, while EXR frames are
/// written on other cores. Everything is written into a hidden staging folder in the shot's
/// folder, checked (ffprobe counts the frames, EXR headers are read back), and only then
/// renamed into place, the manifest last; a failed or cancelled run leaves the previous
/// deliverables as they were.
public struct Stitcher: Sendable {
    public var ffmpeg: String
    public var ffprobe: String
    /// x264's preset for the MP4 (the trade of encoding time for size at a given quality).
    public var preset: String
    /// x264's constant rate factor for the MP4.
    public var crf: Int

    public init(ffmpeg: String = "ffmpeg", ffprobe: String = "ffprobe", preset: String = "medium", crf: Int = 18) {
        self.ffmpeg = ffmpeg
        self.ffprobe = ffprobe
        self.preset = preset
        self.crf = crf
    }

    public struct Cancelled: Error {}

    /// The deliverables' file names inside the shot's folder.
    public static func fileName(_ format: OutputFormat, shot: String) -> String {
        switch format {
        case .mp4: "\(shot).mp4"
        case .prores: "\(shot).mov"
        case .exr: "exr/\(shot).%04d.exr"
        }
    }

    /// Tags the frames Rec.709 (primaries, transfer, matrix, limited range), so that every
    /// encoder writes them into the stream (prores_ks takes them only from the frames).
    static let rec709 = "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"

    /// The ffmpeg arguments that encode raw `rgb48le` frames from standard input into each
    /// video deliverable (MP4, ProRes) at its path. Also used by the stitch benchmark's plain
    /// re-encode, so both run the same encoder settings.
    public func encoderArguments(input: [String], outputs: [(OutputFormat, String)]) -> [String] {
        var arguments = ["-hide_banner", "-nostdin", "-v", "error", "-y"] + input
        let tags = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
        for (format, path) in outputs {
            switch format {
            case .mp4:
                arguments += ["-map", "0:v:0", "-vf", "scale=out_color_matrix=bt709:out_range=tv:flags=bicubic,format=yuv420p," + Self.rec709,
                              "-c:v", "libx264", "-preset", preset, "-crf", "\(crf)", "-pix_fmt", "yuv420p"] + tags
                    + ["-movflags", "+faststart", "-f", "mp4", path]
            case .prores:
                arguments += ["-map", "0:v:0", "-vf", "scale=out_color_matrix=bt709:out_range=tv:flags=bicubic,format=yuv422p10le," + Self.rec709,
                              "-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0", "-pix_fmt", "yuv422p10le"] + tags
                    + ["-movflags", "+write_colr", "-f", "mov", path]
            case .exr:
                continue
            }
        }
        return arguments
    }

    /// Stitches the shot. `progress(done, total)` is called after every frame; `isCancelled`
    /// between frames. Throws `StitchError` (or `Cancelled`) and then leaves no trace.
    public func stitch(_ request: StitchRequest, progress: (Int, Int) -> Void = { _, _ in },
                       isCancelled: () -> Bool = { false }) throws -> [StitchOutput] {
        let timeline: StitchTimeline
        do {
            timeline = try StitchTimeline(pieces: request.pieces.map { ($0.startFrame, $0.endFrame) },
                                          frameCount: request.frameCount, seam: request.seam)
        } catch let invalid as StitchTimeline.Invalid {
            throw StitchError.invalid("\(request.shot): \(invalid.description)")
        }
        guard request.width >= 16, request.height >= 16, request.width % 2 == 0, request.height % 2 == 0 else {
            throw StitchError.invalid("\(request.shot): \(request.width)x\(request.height) is not an even size of at least 16x16")
        }
        let formats = OutputFormat.allCases.filter(request.outputs.contains)
        let fileManager = FileManager.default
        let staging = request.directory + "/.stitch-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try fileManager.createDirectory(atPath: staging + (formats.contains(.exr) ? "/exr" : ""),
                                            withIntermediateDirectories: true)
        } catch {
            throw StitchError.transient("\(staging): cannot create the staging folder: \(error.localizedDescription)")
        }
        defer { try? fileManager.removeItem(atPath: staging) }

        let videos = formats.filter { $0 != .exr }.map { ($0, staging + "/" + Self.fileName($0, shot: request.shot)) }
        var encoder: PipedProcess?
        if !videos.isEmpty {
            let input = ["-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", "\(request.width)x\(request.height)",
                         "-framerate", request.frameRate, "-i", "pipe:0"]
            do {
                encoder = try PipedProcess(executable: ffmpeg, arguments: encoderArguments(input: input, outputs: videos),
                                           stream: .input)
            } catch let error as ChildProcessError {
                throw StitchError.transient(error.description)
            }
        }
        defer { encoder?.terminate() }
        let exr = formats.contains(.exr) ? EXRWriter(directory: staging + "/exr", shot: request.shot) : nil
        defer { exr?.abandon() }  // before the staging folder goes: nothing may still write into it

        let readers = request.pieces.map {
            PieceReader(piece: $0, width: request.width, height: request.height, ffmpeg: ffmpeg, ffprobe: ffprobe)
        }
        var manifestFrames: [ManifestFrame] = []
        manifestFrames.reserveCapacity(request.frameCount)
        progress(0, request.frameCount)
        for (x, contributions) in timeline.frames.enumerated() {
            if isCancelled() { throw Cancelled() }
            var frame: VideoFrame?
            var sources: [ManifestSource] = []
            for contribution in contributions {
                let reader = readers[contribution.piece]
                let piece = reader.piece
                let picture = try reader.frame(local: contribution.local)
                guard picture.width == request.width, picture.height == request.height else {
                    throw StitchError.invalid("\(piece.key): frame \(contribution.local) is \(picture.width)x\(picture.height), not \(request.width)x\(request.height)")
                }
                frame = frame.map { VideoFrame.mix($0, picture, weight: contribution.weight) } ?? picture
                sources.append(try ManifestSource(reader: reader, local: contribution.local, weight: contribution.weight))
            }
            guard let frame else { throw StitchError.invalid("\(request.shot): frame \(x) has no source") }
            if let encoder {
                do {
                    try frame.samples.withUnsafeBytes { try encoder.write($0) }
                } catch {
                    let outcome = try? encoder.finish()
                    throw StitchError.transient("ffmpeg stopped encoding at frame \(x): \(outcome?.tail(3) ?? "\(error)")")
                }
            }
            try exr?.write(frame, index: x)
            manifestFrames.append(ManifestFrame(frame: x, sources: sources))
            progress(x + 1, request.frameCount)
        }
        if let encoder {
            let outcome: ChildProcess.Outcome
            do { outcome = try encoder.finish() } catch { throw StitchError.transient("ffmpeg: \(error)") }
            guard outcome.status == 0 else {
                throw StitchError.transient("ffmpeg failed to encode \(request.shot) (exit \(outcome.status)): \(outcome.tail(3))")
            }
        }
        let exrFrames = try exr?.finish() ?? []

        // Check what was written before anything is moved into place.
        var outputs: [StitchOutput] = []
        for (format, path) in videos {
            try verifyVideo(format, path: path, request: request)
            let (bytes, sha) = try readBack(path)
            outputs.append(StitchOutput(format: format.rawValue, path: request.relativeDirectory + "/" + Self.fileName(format, shot: request.shot),
                                        frames: request.frameCount, bytes: bytes, sha256: sha,
                                        mediaType: format == .mp4 ? "video/mp4" : "video/quicktime"))
        }
        if exr != nil {
            try verifyEXR(exrFrames, request: request)
            let listing = exrFrames.map { "\($0.sha256)  \($0.name)\n" }.joined()
            outputs.append(StitchOutput(format: OutputFormat.exr.rawValue,
                                        path: request.relativeDirectory + "/" + Self.fileName(.exr, shot: request.shot),
                                        frames: exrFrames.count, bytes: exrFrames.reduce(0) { $0 + $1.bytes },
                                        sha256: Checksum.sha256Hex(Data(listing.utf8)), mediaType: "image/x-exr"))
        }
        let manifest = Manifest(request: request, outputs: outputs, frames: manifestFrames)
        let manifestData = manifest.json()
        let manifestPath = request.relativeDirectory + "/manifest.json"
        do {
            try ImageFile.writeAtomically(manifestData, to: staging + "/manifest.json")
        } catch {
            throw StitchError.transient("\(manifestPath): \(error)")
        }

        try place(formats: formats, staging: staging, request: request)
        outputs.append(StitchOutput(format: "manifest", path: manifestPath, frames: request.frameCount,
                                    bytes: Int64(manifestData.count), sha256: Checksum.sha256Hex(manifestData),
                                    mediaType: "application/json"))
        return outputs
    }

    /// Moves the checked deliverables from staging into the shot's folder: the old manifest
    /// goes first (so a crash in between never leaves a manifest naming half-replaced files),
    /// files are renamed over their old versions, the EXR folder is swapped, deliverables the
    /// shot no longer asks for are removed, and the new manifest comes last.
    private func place(formats: [OutputFormat], staging: String, request: StitchRequest) throws {
        let directory = request.directory
        func move(_ from: String, _ to: String) throws {
            guard rename(from, to) == 0 else {
                throw StitchError.transient("\(to): cannot move into place: \(String(cString: strerror(errno)))")
            }
        }
        unlink(directory + "/manifest.json")
        for format in OutputFormat.allCases {
            let name = format == .exr ? "exr" : Self.fileName(format, shot: request.shot)
            let target = directory + "/" + name
            if formats.contains(format) {
                if format == .exr {
                    let old = directory + "/.exr.old-\(UInt32.random(in: 0...UInt32.max))"
                    let hadOld = rename(target, old) == 0
                    try move(staging + "/exr", target)
                    if hadOld { try? FileManager.default.removeItem(atPath: old) }
                } else {
                    try move(staging + "/" + name, target)
                }
            } else {
                try? FileManager.default.removeItem(atPath: target)
            }
        }
        try move(staging + "/manifest.json", directory + "/manifest.json")
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY)
        if descriptor >= 0 { fsync(descriptor); close(descriptor) }
    }

    private func verifyVideo(_ format: OutputFormat, path: String, request: StitchRequest) throws {
        let stream = try VideoProbe.stream(path, ffprobe: ffprobe)
        let name = Self.fileName(format, shot: request.shot)
        let expected = format == .mp4 ? ("h264", "yuv420p") : ("prores", "yuv422p10le")
        var problems: [String] = []
        if stream.packets != request.frameCount { problems.append("\(stream.packets) frames, not \(request.frameCount)") }
        if stream.width != request.width || stream.height != request.height {
            problems.append("\(stream.width)x\(stream.height), not \(request.width)x\(request.height)")
        }
        if stream.codec != expected.0 { problems.append("codec \(stream.codec), not \(expected.0)") }
        if stream.pixelFormat != expected.1 { problems.append("pixel format \(stream.pixelFormat ?? "?"), not \(expected.1)") }
        for (what, value) in [("color space", stream.colorSpace), ("primaries", stream.colorPrimaries), ("transfer", stream.colorTransfer)]
            where value != "bt709" {
            problems.append("\(what) \(value ?? "unset"), not bt709")
        }
        guard problems.isEmpty else {
            throw StitchError.transient("\(request.shot): the \(name) ffmpeg wrote is wrong: \(problems.joined(separator: "; "))")
        }
    }

    private func verifyEXR(_ frames: [EXRWriter.Written], request: StitchRequest) throws {
        guard frames.count == request.frameCount else {
            throw StitchError.transient("\(request.shot): \(frames.count) EXR frames written, \(request.frameCount) planned")
        }
        for frame in frames {
            let header: EXRHeader
            do { header = try EXRHeader.read(frame.path) } catch { throw StitchError.transient("\(error)") }
            guard header.width == request.width, header.height == request.height, header.channels == ["B", "G", "R"],
                  header.allHalf, header.zip, header.chromaticities != nil else {
                throw StitchError.transient("\(frame.name): the EXR written is wrong: \(header)")
            }
        }
    }
}

/// The size and SHA-256 of a file the stitcher just wrote, for its result.
private func readBack(_ path: String) throws -> (bytes: Int64, sha256: String) {
    guard let sha = Checksum.sha256Hex(ofFile: path),
          let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber else {
        throw StitchError.transient("\(path): cannot be read back")
    }
    return (size.int64Value, sha)
}

/// Writes EXR frames on other cores while the stitcher moves on, a few frames in flight.
final class EXRWriter: @unchecked Sendable {
    struct Written: Sendable { var name: String; var path: String; var bytes: Int64; var sha256: String }

    let directory: String
    let shot: String
    private let queue = DispatchQueue(label: "keyfarm.stitch.exr", attributes: .concurrent)
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var written: [Int: Written] = [:]
    private var failure: StitchError?

    init(directory: String, shot: String) {
        self.directory = directory
        self.shot = shot
        slots = DispatchSemaphore(value: max(2, ProcessInfo.processInfo.activeProcessorCount))
    }

    func name(_ index: Int) -> String { String(format: "%@.%04d.exr", shot, index) }

    /// Queues frame `index`; throws an earlier frame's failure, if any.
    func write(_ frame: VideoFrame, index: Int) throws {
        if let failure = lock.withLock({ failure }) { throw failure }
        slots.wait()
        let name = name(index), path = directory + "/" + name
        queue.async(group: group) { [self] in
            defer { slots.signal() }
            do {
                try frame.writeEXR(path: path)
                let (bytes, sha) = try readBack(path)
                lock.withLock { written[index] = Written(name: name, path: path, bytes: bytes, sha256: sha) }
            } catch {
                lock.withLock { failure = failure ?? (error as? StitchError ?? .transient("\(path): \(error)")) }
            }
        }
    }

    /// Waits for every frame; returns them in order, or throws the first failure.
    func finish() throws -> [Written] {
        group.wait()
        return try lock.withLock {
            if let failure { throw failure }
            return written.keys.sorted().map { written[$0]! }
        }
    }

    /// Waits for frames in flight (a cancelled run), so nothing writes into a removed folder.
    func abandon() { group.wait() }
}
