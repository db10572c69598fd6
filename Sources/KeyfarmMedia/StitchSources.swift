import Foundation
import KeyfarmProcess

/// A rendered file the stitcher reads, with the checksum its RESULT gave.
public struct StitchSourceFile: Sendable, Equatable {
    /// Where to read it.
    public var path: String
    /// Its path relative to the storage root, as the manifest names it.
    public var artifact: String
    /// Lowercase hex SHA-256 it must have.
    public var sha256: String

    public init(path: String, artifact: String, sha256: String) {
        self.path = path
        self.artifact = artifact
        self.sha256 = sha256
    }

    /// Throws `invalid` unless `digest`, what the file holds now, is the checksum recorded
    /// for it when job `key` rendered it.
    func check(digest: String, key: String) throws {
        guard digest == sha256 else {
            throw StitchError.invalid("\(artifact): checksum \(digest.prefix(12))… is not the \(sha256.prefix(12))… recorded for \(key): the file is corrupt")
        }
    }
}

/// Why a stitch failed: `invalid` when its inputs can never make a clip (missing, corrupt,
/// inconsistent), `transient` when trying again may help (a full disk, a tool that crashed).
public struct StitchError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case invalid, transient }
    public var kind: Kind
    public var description: String

    public static func invalid(_ message: String) -> StitchError { StitchError(kind: .invalid, description: message) }
    public static func transient(_ message: String) -> StitchError { StitchError(kind: .transient, description: message) }
}

/// Reads one piece's frames, conformed to the shot's size and retimed to its planned count.
/// Frames are asked for in non-decreasing order of `local` (what the timeline needs).
final class PieceReader {
    let piece: StitchPiece
    let width: Int
    let height: Int
    let ffmpeg: String
    let ffprobe: String
    private var cache: [Int: VideoFrame] = [:]
    private var available: Int?
    private var decoder: PipedProcess?
    private var decoded = 0
    private var ended = false

    init(piece: StitchPiece, width: Int, height: Int, ffmpeg: String, ffprobe: String) {
        self.piece = piece
        self.width = width
        self.height = height
        self.ffmpeg = ffmpeg
        self.ffprobe = ffprobe
    }

    deinit { decoder?.terminate() }

    /// How many frames the source has (opening it on first use).
    func sourceCount() throws -> Int {
        if let available { return available }
        let count: Int
        switch piece.source {
        case .frames(let files), .exrFrames(let files):
            guard !files.isEmpty else { throw StitchError.invalid("\(piece.key): the segment left no frames") }
            count = files.count
        case .video(let file):
            try verify(file)
            count = try VideoProbe.packetCount(file.path, ffprobe: ffprobe)
            guard count >= 1 else { throw StitchError.invalid("\(file.artifact): the video has no frames") }
        }
        let used = min(count, piece.usedSourceFrames ?? count)
        available = used
        return used
    }

    /// The source frames `local` is made of: one index (nearest) when the source has at
    /// least as many frames as planned, else the two around it with a blend weight.
    func sourceFrames(local: Int) throws -> (first: Int, second: Int, weight: Double) {
        let count = try sourceCount()
        let position = StitchTimeline.sourcePosition(local: local, planned: piece.frames, available: count)
        if count >= piece.frames || position == position.rounded(.down) {
            let nearest = min(count - 1, Int(position.rounded()))
            return (nearest, nearest, 0)
        }
        let low = Int(position.rounded(.down))
        return (low, min(low + 1, count - 1), position - Double(low))
    }

    /// Frame `local` of the piece (0 ..< piece.frames).
    func frame(local: Int) throws -> VideoFrame {
        let (first, second, weight) = try sourceFrames(local: local)
        let a = try source(first)
        if weight == 0 { return a }
        return VideoFrame.mix(a, try source(second), weight: weight)
    }

    /// Frame `local` of the piece in scene-linear ACES2065-1 (AP0), unclamped: an HDR export's
    /// EXR frames as they are (converted from the primaries their chromaticities name), other
    /// sources (SDR PNGs and clips, display-referred) from their Rec.709 linear light.
    func linearFrame(local: Int) throws -> LinearImage {
        guard case .exrFrames = piece.source else {
            return try frame(local: local).linear.converted(Primaries.rec709.matrix(to: .ap0))
        }
        let (first, second, weight) = try sourceFrames(local: local)
        let a = try exrSource(first)
        if weight == 0 { return a }
        return LinearImage.mix(a, try exrSource(second), weight: Float(weight))
    }

    private var exrCache: [Int: LinearImage] = [:]

    /// EXR frame `index` of an HDR export, checked, read, in AP0 and conformed to the shot's size.
    private func exrSource(_ index: Int) throws -> LinearImage {
        if let frame = exrCache[index] { return frame }
        exrCache = exrCache.filter { $0.key >= index - 1 }
        guard case .exrFrames(let files) = piece.source else { throw StitchError.invalid("\(piece.key): not an EXR source") }
        let key = piece.key, width = width, height = height, crop = piece.crop
        for (i, frame) in try Self.readAhead(files, from: index, { try Self.readEXR($0, key: key, width: width, height: height, crop: crop) }) {
            exrCache[i] = frame
        }
        return exrCache[index]!
    }

    /// Reads files `index` onwards, a batch on every core (the frames will be asked for in
    /// order), returning them by index; the first failure is thrown.
    private static func readAhead<Frame>(_ files: [StitchSourceFile], from index: Int,
                                         _ read: @escaping @Sendable (StitchSourceFile) throws -> Frame) throws -> [(Int, Frame)] {
        let batch = Array(index..<min(index + max(2, ProcessInfo.processInfo.activeProcessorCount), files.count))
        let results = SharedBuffer<Result<Frame, StitchError>?>(count: batch.count, repeating: nil)
        DispatchQueue.concurrentPerform(iterations: batch.count) { k in
            results[k] = Result { try read(files[batch[k]]) }.mapError {
                $0 as? StitchError ?? .invalid("\(files[batch[k]].artifact): \($0)")
            }
        }
        return try batch.enumerated().map { k, i in (i, try results[k]!.get()) }
    }

    private static func readEXR(_ file: StitchSourceFile, key: String, width: Int, height: Int, crop: [Double]?) throws -> LinearImage {
        guard let digest = Checksum.sha256Hex(ofFile: file.path) else {
            throw StitchError.invalid("\(file.artifact): missing or unreadable (\(key) must be rendered again)")
        }
        try file.check(digest: digest, key: key)
        let frame: EXRCodec.Frame
        do { frame = try EXRCodec.read(path: file.path) } catch let error as ImageError { throw StitchError.invalid(error.description) }
        // A frame that names no primaries is taken as ACES2065-1, what the export is documented to be.
        let primaries = frame.info.chromaticities.flatMap(Primaries.init(chromaticities:)) ?? .ap0
        var image = frame.image.converted(primaries.matrix(to: .ap0))
        if let crop { image = image.cropped(to: crop) }
        if image.width != width || image.height != height {
            image = Resampler.conform(image, width: width, height: height, fit: .crop)
        }
        return image
    }

    /// Source frame `index`; earlier ones are dropped from the cache as the reader moves on.
    private func source(_ index: Int) throws -> VideoFrame {
        if let frame = cache[index] { return frame }
        cache = cache.filter { $0.key >= index - 1 }
        switch piece.source {
        case .frames(let files):
            let key = piece.key, width = width, height = height, crop = piece.crop
            for (i, frame) in try Self.readAhead(files, from: index, { try Self.readPNG($0, key: key, width: width, height: height, crop: crop) }) {
                cache[i] = frame
            }
            return cache[index]!
        case .exrFrames:
            return VideoFrame(try exrSource(index).converted(Primaries.ap0.matrix(to: .rec709)).toneMapped())
        case .video:
            while decoded <= index && !ended { try decodeNext() }
            // A stream one or two frames shorter than its packet count holds its last frame.
            if let frame = cache[index] ?? (index - decoded < 2 ? cache[decoded - 1] : nil) { return frame }
            throw StitchError.invalid("\(piece.key): the video decoded to \(decoded) frames, \(available ?? 0) expected")
        }
    }

    private static func readPNG(_ file: StitchSourceFile, key: String, width: Int, height: Int, crop: [Double]?) throws -> VideoFrame {
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw StitchError.invalid("\(file.artifact): missing or unreadable (\(key) must be rendered again)")
        }
        try file.check(digest: Checksum.sha256Hex(data), key: key)
        let frame: VideoFrame
        do {
            frame = try VideoFrame.decodePNG(data, path: file.artifact)
        } catch let error as ImageError {
            throw StitchError.invalid(error.description)
        }
        if frame.width == width && frame.height == height && crop == nil { return frame }
        let region = crop.map { frame.linear.cropped(to: $0) } ?? frame.linear
        return VideoFrame(Resampler.conform(region, width: width, height: height, fit: .crop))
    }

    private func verify(_ file: StitchSourceFile) throws {
        guard let digest = Checksum.sha256Hex(ofFile: file.path) else {
            throw StitchError.invalid("\(file.artifact): missing or unreadable (\(piece.key) must be rendered again)")
        }
        try file.check(digest: digest, key: piece.key)
    }

    /// Decodes the next frame of a video source through ffmpeg, scaled to cover the shot's
    /// size and centre-cropped (the shot's aspect wins), as 16-bit RGB over a pipe.
    private func decodeNext() throws {
        guard case .video(let file) = piece.source else { return }
        if decoder == nil {
            decoder = try wrap {
                try PipedProcess(executable: ffmpeg, arguments: [
                    "-hide_banner", "-nostdin", "-v", "error", "-i", file.path, "-map", "0:v:0", "-fps_mode", "passthrough",
                    "-vf", (piece.crop.map(Self.cropFilter) ?? "")
                        + "scale=\(width):\(height):force_original_aspect_ratio=increase:flags=lanczos,crop=\(width):\(height),setsar=1",
                    "-pix_fmt", "rgb48le", "-f", "rawvideo", "pipe:1",
                ], stream: .output)
            }
        }
        var samples = [UInt16](repeating: 0, count: width * height * 3)
        let count = try samples.withUnsafeMutableBytes { buffer in try wrap { try decoder!.read(into: buffer) } }
        if count == samples.count * 2 {
            cache = cache.filter { $0.key >= decoded - 1 }
            cache[decoded] = VideoFrame(width: width, height: height, samples: samples)
            decoded += 1
            return
        }
        ended = true
        let outcome = try wrap { try decoder!.finish() }
        decoder = nil
        guard outcome.status == 0, count == 0 else {
            throw StitchError.invalid("\(file.artifact): ffmpeg could not decode the video (exit \(outcome.status)): \(outcome.tail(3))")
        }
    }

    /// ffmpeg's crop of a normalized region, ahead of the scale.
    static func cropFilter(_ r: [Double]) -> String {
        String(format: "crop=w=iw*%.6f:h=ih*%.6f:x=iw*%.6f:y=ih*%.6f,", r[2] - r[0], r[3] - r[1], r[0], r[1])
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as ChildProcessError { throw StitchError.transient(error.description) }
    }
}

/// ffprobe questions about a video file.
public enum VideoProbe {
    /// Facts about a file's first video stream.
    public struct Stream: Sendable, Equatable {
        public var codec: String
        public var profile: String?
        public var pixelFormat: String?
        public var width: Int
        public var height: Int
        /// Packets read (one per frame for H.264 and ProRes), counted by reading the file.
        public var packets: Int
        public var colorSpace: String?
        public var colorPrimaries: String?
        public var colorTransfer: String?
        public var frameRate: String?
    }

    /// Reads the first video stream's facts, counting its packets (fast: nothing is decoded).
    public static func stream(_ path: String, ffprobe: String = "ffprobe") throws -> Stream {
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess(executable: ffprobe, arguments: [
                "-v", "error", "-select_streams", "v:0", "-count_packets",
                "-show_entries", "stream=codec_name,profile,pix_fmt,width,height,nb_read_packets,color_space,color_primaries,color_transfer,r_frame_rate",
                "-of", "json", path,
            ], environment: ProcessInfo.processInfo.environment).run()
        } catch let error as ChildProcessError {
            throw StitchError.transient(error.description)
        }
        guard outcome.status == 0,
              let json = try? JSONSerialization.jsonObject(with: Data(outcome.output.utf8)) as? [String: Any],
              let stream = (json["streams"] as? [[String: Any]])?.first else {
            throw StitchError.invalid("\(path): ffprobe found no video stream: \(outcome.tail(3))")
        }
        func int(_ key: String) -> Int { (stream[key] as? NSNumber)?.intValue ?? Int(stream[key] as? String ?? "") ?? 0 }
        return Stream(codec: stream["codec_name"] as? String ?? "?", profile: stream["profile"] as? String,
                      pixelFormat: stream["pix_fmt"] as? String, width: int("width"), height: int("height"),
                      packets: int("nb_read_packets"), colorSpace: stream["color_space"] as? String,
                      colorPrimaries: stream["color_primaries"] as? String, colorTransfer: stream["color_transfer"] as? String,
                      frameRate: stream["r_frame_rate"] as? String)
    }

    /// How many frames (packets) the first video stream has.
    static func packetCount(_ path: String, ffprobe: String) throws -> Int {
        try stream(path, ffprobe: ffprobe).packets
    }
}
