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
        /// A provider's HDR export: scene-linear EXR frames (ACES2065-1 from Luma), first to
        /// last, each checked against its checksum, never clamped.
        case exrFrames([StitchSourceFile])
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
    /// The region of each source frame that makes the piece (normalized x0, y0, x1, y1), when a
    /// delivery at another aspect crops it locally at a position other than the centre; nil:
    /// the whole frame (fitted to the shot's size by covering it, centred).
    public var crop: [Double]?
    /// Which take of its segment this is (1 as planned; `keyfarm retake` makes more).
    public var take = 1

    public init(key: String, segmentIndex: Int, part: Int = 1, startFrame: Int, endFrame: Int, engine: String,
                attempt: Int? = nil, provider: String? = nil, requestID: String? = nil, source: Source,
                usedSourceFrames: Int? = nil, take: Int = 1) {
        self.take = take
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
    /// An HDR shot: frames stay scene-linear floats (ACES2065-1) through the stitch; `exr` and
    /// `hdr10` keep their highlights, `mp4` and `prores` are tone-mapped (`HDRTransfer`).
    public var hdr = false
    /// The primaries `exr` deliverables are written in.
    public var exrPrimaries: Primaries = .rec709
    /// A delivery at another aspect ratio (`9x16`): its files are `<shot>_9x16.mp4` and
    /// `manifest_9x16.json` beside the master's, which it never touches.
    public var variant: String?

    /// The deliverables' base name: the shot, or the shot and its variant.
    public var baseName: String { variant.map { "\(shot)_\($0)" } ?? shot }
    public var manifestName: String { variant.map { "manifest_\($0).json" } ?? "manifest.json" }

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

    /// The deliverables' file names inside the shot's folder (`shot`: the request's base name).
    public static func fileName(_ format: OutputFormat, shot: String) -> String {
        switch format {
        case .mp4: "\(shot).mp4"
        case .prores: "\(shot).mov"
        case .exr: "exr/\(shot).%04d.exr"
        case .hdr10: "\(shot)_hdr10.mp4"
        }
    }

    /// The media type a deliverable is reported with (`v_outputs` names its format by it).
    public static func mediaType(_ format: OutputFormat) -> String {
        switch format {
        case .mp4: "video/mp4"
        case .prores: "video/quicktime"
        case .exr: "image/x-exr"
        case .hdr10: hdr10MediaType
        }
    }

    /// HEVC Main 10, PQ, BT.2020 in MP4.
    public static let hdr10MediaType = "video/mp4; profile=hdr10"

    /// ffmpeg's arguments for the HDR10 master: 16-bit full-range RGB PQ/BT.2020 on standard
    /// input, HEVC Main 10 (libx265) out, with BT.2020 primaries and matrix, PQ transfer,
    /// mastering-display and content-light metadata in the stream and in the container.
    public func hdr10Arguments(input: [String], path: String, maxCLL: Int, maxFALL: Int) -> [String] {
        // BT.2020 primaries, D65, 1000 cd/m2 peak, 0.0001 cd/m2 black, in x265's units.
        let display = "G(8500,39850)B(6550,2300)R(35400,14600)WP(15635,16450)L(\(Int(HDRTransfer.peakNits) * 10000),1)"
        let params = ["colorprim=bt2020", "transfer=smpte2084", "colormatrix=bt2020nc", "range=limited", "hdr10=1",
                      "hdr10-opt=1", "repeat-headers=1", "master-display=\(display)", "max-cll=\(maxCLL),\(maxFALL)",
                      "log-level=error"].joined(separator: ":")
        return ["-hide_banner", "-nostdin", "-v", "error", "-y"] + input + [
            "-map", "0:v:0",
            "-vf", "scale=in_range=full:out_color_matrix=bt2020nc:out_range=tv:flags=bicubic,format=yuv420p10le,"
                + "setparams=colorspace=bt2020nc:color_primaries=bt2020:color_trc=smpte2084:range=tv",
            "-c:v", "libx265", "-preset", preset == "medium" ? "fast" : preset, "-crf", "\(crf)", "-pix_fmt", "yuv420p10le",
            "-x265-params", params, "-tag:v", "hvc1",
            "-colorspace", "bt2020nc", "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-color_range", "tv",
            "-movflags", "+faststart", "-f", "mp4", path,
        ]
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
            case .exr, .hdr10:
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
        guard request.hdr || !formats.contains(.hdr10) else {
            throw StitchError.invalid("\(request.shot): hdr10 needs an HDR shot (hdr: true)")
        }
        let fileManager = FileManager.default
        let staging = request.directory + "/.stitch-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try fileManager.createDirectory(atPath: staging + (formats.contains(.exr) ? "/exr" : ""),
                                            withIntermediateDirectories: true)
        } catch {
            throw StitchError.transient("\(staging): cannot create the staging folder: \(error.localizedDescription)")
        }
        defer { try? fileManager.removeItem(atPath: staging) }

        let videos = formats.filter { $0 == .mp4 || $0 == .prores }.map { ($0, staging + "/" + Self.fileName($0, shot: request.baseName)) }
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
        let hdr10Path = staging + "/" + Self.fileName(.hdr10, shot: request.baseName)
        var hdr10: PipedProcess?
        if formats.contains(.hdr10) {
            // MaxCLL and MaxFALL go into the stream's headers, so a first pass measures them.
            let levels = try lightLevels(request, timeline: timeline, isCancelled: isCancelled)
            let input = ["-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", "\(request.width)x\(request.height)",
                         "-framerate", request.frameRate, "-i", "pipe:0"]
            do {
                hdr10 = try PipedProcess(executable: ffmpeg, arguments: hdr10Arguments(
                    input: input, path: hdr10Path, maxCLL: levels.maxCLL, maxFALL: levels.maxFALL), stream: .input)
            } catch let error as ChildProcessError {
                throw StitchError.transient(error.description)
            }
        }
        defer { hdr10?.terminate() }
        let toWorking = Primaries.ap0.matrix(to: .rec709), toEXR = Primaries.ap0.matrix(to: request.exrPrimaries)
        let toHDR10 = Primaries.ap0.matrix(to: .rec2020), fromSDR = Primaries.rec709.matrix(to: request.exrPrimaries)
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
            var linear: LinearImage?
            var sources: [ManifestSource] = []
            for contribution in contributions {
                let reader = readers[contribution.piece]
                let piece = reader.piece
                let size: (width: Int, height: Int)
                if request.hdr {
                    let picture = try reader.linearFrame(local: contribution.local)
                    size = (picture.width, picture.height)
                    linear = linear.map { LinearImage.mix($0, picture, weight: Float(contribution.weight)) } ?? picture
                } else {
                    let picture = try reader.frame(local: contribution.local)
                    size = (picture.width, picture.height)
                    frame = frame.map { VideoFrame.mix($0, picture, weight: contribution.weight) } ?? picture
                }
                guard size.width == request.width, size.height == request.height else {
                    throw StitchError.invalid("\(piece.key): frame \(contribution.local) is \(size.width)x\(size.height), not \(request.width)x\(request.height)")
                }
                sources.append(try ManifestSource(reader: reader, local: contribution.local, weight: contribution.weight))
            }
            if let linear, encoder != nil { frame = VideoFrame(linear.converted(toWorking).toneMapped()) }
            guard frame != nil || linear != nil else { throw StitchError.invalid("\(request.shot): frame \(x) has no source") }
            if let hdr10, let linear {
                let samples = linear.converted(toHDR10).hdr10Samples().samples
                do {
                    try samples.withUnsafeBytes { try hdr10.write($0) }
                } catch {
                    let outcome = try? hdr10.finish()
                    throw StitchError.transient("ffmpeg stopped encoding HDR10 at frame \(x): \(outcome?.tail(3) ?? "\(error)")")
                }
            }
            if let encoder, let frame {
                do {
                    try frame.samples.withUnsafeBytes { try encoder.write($0) }
                } catch {
                    let outcome = try? encoder.finish()
                    throw StitchError.transient("ffmpeg stopped encoding at frame \(x): \(outcome?.tail(3) ?? "\(error)")")
                }
            }
            if let exr {
                let primaries = request.exrPrimaries
                if let linear {
                    let picture = linear.converted(toEXR)
                    try exr.write(index: x) { try EXRCodec.write(picture, path: $0, compression: "zip", primaries: primaries) }
                } else if let frame {
                    if primaries == .rec709 {
                        try exr.write(index: x) { try frame.writeEXR(path: $0) }
                    } else {
                        try exr.write(index: x) {
                            try EXRCodec.write(frame.linear.converted(fromSDR), path: $0, compression: "zip", primaries: primaries)
                        }
                    }
                }
            }
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
        if let hdr10 {
            let outcome: ChildProcess.Outcome
            do { outcome = try hdr10.finish() } catch { throw StitchError.transient("ffmpeg: \(error)") }
            guard outcome.status == 0 else {
                throw StitchError.transient("ffmpeg failed to encode \(request.shot)'s HDR10 master (exit \(outcome.status)): \(outcome.tail(3))")
            }
        }
        let exrFrames = try exr?.finish() ?? []

        // Check what was written before anything is moved into place.
        var outputs: [StitchOutput] = []
        for (format, path) in videos {
            try verifyVideo(format, path: path, request: request)
            let (bytes, sha) = try readBack(path)
            outputs.append(StitchOutput(format: format.rawValue, path: request.relativeDirectory + "/" + Self.fileName(format, shot: request.baseName),
                                        frames: request.frameCount, bytes: bytes, sha256: sha, mediaType: Self.mediaType(format)))
        }
        if hdr10 != nil {
            try verifyVideo(.hdr10, path: hdr10Path, request: request)
            let (bytes, sha) = try readBack(hdr10Path)
            outputs.append(StitchOutput(format: OutputFormat.hdr10.rawValue,
                                        path: request.relativeDirectory + "/" + Self.fileName(.hdr10, shot: request.baseName),
                                        frames: request.frameCount, bytes: bytes, sha256: sha, mediaType: Self.hdr10MediaType))
        }
        if exr != nil {
            try verifyEXR(exrFrames, request: request)
            outputs.append(StitchOutput(format: OutputFormat.exr.rawValue,
                                        path: request.relativeDirectory + "/" + Self.fileName(.exr, shot: request.baseName),
                                        frames: exrFrames.count, bytes: exrFrames.reduce(0) { $0 + $1.bytes },
                                        sha256: Checksum.sha256HexOfListing(exrFrames.map { ($0.sha256, $0.name) }),
                                        mediaType: "image/x-exr"))
        }
        let manifest = Manifest(request: request, outputs: outputs, frames: manifestFrames)
        let manifestData = manifest.json()
        let manifestPath = request.relativeDirectory + "/" + request.manifestName
        do {
            try ImageFile.writeAtomically(manifestData, to: staging + "/" + request.manifestName)
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
        unlink(directory + "/" + request.manifestName)
        // A delivery at another aspect owns only its own video files.
        for format in request.variant == nil ? OutputFormat.allCases : [.mp4, .prores] {
            let name = format == .exr ? "exr" : Self.fileName(format, shot: request.baseName)
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
        try move(staging + "/" + request.manifestName, directory + "/" + request.manifestName)
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY)
        if descriptor >= 0 { fsync(descriptor); close(descriptor) }
    }

    private func verifyVideo(_ format: OutputFormat, path: String, request: StitchRequest) throws {
        let stream = try VideoProbe.stream(path, ffprobe: ffprobe)
        let name = Self.fileName(format, shot: request.baseName)
        let expected = switch format {
        case .mp4: ("h264", "yuv420p")
        case .hdr10: ("hevc", "yuv420p10le")
        default: ("prores", "yuv422p10le")
        }
        // HDR10 is BT.2020 with PQ; the SDR deliverables are Rec.709.
        let tags = format == .hdr10 ? ["bt2020nc", "bt2020", "smpte2084"] : ["bt709", "bt709", "bt709"]
        var problems: [String] = []
        if stream.packets != request.frameCount { problems.append("\(stream.packets) frames, not \(request.frameCount)") }
        if stream.width != request.width || stream.height != request.height {
            problems.append("\(stream.width)x\(stream.height), not \(request.width)x\(request.height)")
        }
        if stream.codec != expected.0 { problems.append("codec \(stream.codec), not \(expected.0)") }
        if stream.pixelFormat != expected.1 { problems.append("pixel format \(stream.pixelFormat ?? "?"), not \(expected.1)") }
        for (k, (what, value)) in [("color space", stream.colorSpace), ("primaries", stream.colorPrimaries),
                                   ("transfer", stream.colorTransfer)].enumerated() where value != tags[k] {
            problems.append("\(what) \(value ?? "unset"), not \(tags[k])")
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
                  header.allHalf, header.zip, let chromaticities = header.chromaticities,
                  Primaries(chromaticities: chromaticities) == request.exrPrimaries else {
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

    /// Queues frame `index`, which `encode` writes to the path it is given; throws an earlier
    /// frame's failure, if any.
    func write(index: Int, encode: @escaping @Sendable (String) throws -> Void) throws {
        if let failure = lock.withLock({ failure }) { throw failure }
        slots.wait()
        let name = name(index), path = directory + "/" + name
        queue.async(group: group) { [self] in
            defer { slots.signal() }
            do {
                try encode(path)
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
