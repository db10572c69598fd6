import Foundation

/// Renders the frames of one segment between two keyframes and writes them as numbered
/// PNG files (`frame_0000.png` ...), the lossless intermediate the stitcher reads.
public struct FrameSequence {
    /// One written frame: its file, size and SHA-256.
    public struct Frame: Sendable, Equatable {
        public var index: Int
        public var path: String
        public var bytes: Int64
        /// Lowercase hex.
        public var sha256: String
    }

    public var start: LinearImage
    public var end: LinearImage
    /// Frames in all, both keyframes included (at least 2).
    public var count: Int
    /// 16 (default) or 8.
    public var bitDepth: Int

    public init(start: LinearImage, end: LinearImage, count: Int, bitDepth: Int = 16) {
        precondition(count >= 2, "a segment has at least its two keyframes")
        self.start = start
        self.end = end
        self.count = count
        self.bitDepth = bitDepth
    }

    /// The file name of frame `index`.
    public static func name(_ index: Int) -> String { String(format: "frame_%04d.png", index) }

    /// Why rendering stopped early.
    public struct Cancelled: Error {}

    /// What `write` produced.
    public struct Output: Sendable {
        /// Every frame in order.
        public var frames: [Frame]
        /// Fraction of blocks whose motion passed the forward-backward check.
        public var reliableFraction: Double
        /// True when the frames are a plain crossfade (a scene cut, or identical keyframes).
        public var crossfadeOnly: Bool
    }

    /// Analyses the motion, renders every frame and writes it into `directory` (which must
    /// exist). `progress(done, total)` and `isCancelled` are called on the calling thread
    /// between frames. Each frame renders and encodes band by band on all cores, straight from
    /// the motion to the PNG coder, and is written and hashed on another thread while the next
    /// one renders. Throws `Cancelled` if `isCancelled` said so, leaving the frames written so far.
    public func write(into directory: String, progress: (Int, Int) -> Void = { _, _ in },
                      isCancelled: () -> Bool = { false }) throws -> Output {
        let interpolator = Interpolator(start: start, end: end)
        if isCancelled() { throw Cancelled() }
        let count = self.count, bitDepth = self.bitDepth
        var frames: [Frame] = []
        frames.reserveCapacity(count)
        let written = SharedBuffer<Result<Frame, ImageError>?>(count: count, repeating: nil)
        let writing = DispatchGroup()
        let writer = DispatchQueue(label: "keyfarm.frame-sequence.write")
        defer { writing.wait() }
        progress(0, count)
        let workspace = PNGEncoder.Workspace()
        for index in 0..<count {
            let data: Data
            if index == 0 || index == count - 1 {
                // Keyframes use the exact transfer function so that they come back bit for bit.
                let keyframe = index == 0 ? start : end
                let width = keyframe.width
                data = keyframe.pixels.withUnsafeBufferPointer { pixels in
                    let base = pixels.baseAddress!
                    return PNGEncoder(width: width, height: keyframe.height, bitDepth: bitDepth, exact: true)
                        .encode(in: workspace) { rows, _ in base + rows.lowerBound * width * 3 }
                }
            } else {
                let time = Double(index) / Double(count - 1)
                data = PNGEncoder(width: start.width, height: start.height, bitDepth: bitDepth, exact: false)
                    .encode(in: workspace) { rows, scratch in
                        interpolator.render(rows: rows, at: time, into: scratch)
                        return UnsafePointer(scratch)
                    }
            }
            writing.wait()
            if index > 0 {
                frames.append(try written[index - 1]!.get())
                progress(index, count)
                if isCancelled() { throw Cancelled() }
            }
            let path = directory + "/" + Self.name(index)
            writer.async(group: writing) { written[index] = Self.store(data, index: index, path: path) }
        }
        writing.wait()
        frames.append(try written[count - 1]!.get())
        progress(count, count)
        return Output(frames: frames, reliableFraction: interpolator.reliableFraction,
                      crossfadeOnly: interpolator.crossfadeOnly)
    }

    /// Writes one frame's PNG and describes it.
    static func store(_ data: Data, index: Int, path: String) -> Result<Frame, ImageError> {
        do {
            try ImageFile.writeAtomically(data, to: path)
        } catch let error as ImageError {
            return .failure(error)
        } catch {
            return .failure(ImageError(path: path, reason: "\(error)"))
        }
        return .success(Frame(index: index, path: path, bytes: Int64(data.count), sha256: Checksum.sha256Hex(data)))
    }
}
