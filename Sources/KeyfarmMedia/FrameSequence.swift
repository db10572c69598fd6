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
    /// between batches of frames; frames of a batch render and encode on all cores.
    /// Throws `Cancelled` if `isCancelled` said so, leaving the frames written so far.
    public func write(into directory: String, progress: (Int, Int) -> Void = { _, _ in },
                      isCancelled: () -> Bool = { false }) throws -> Output {
        let interpolator = Interpolator(start: start, end: end)
        if isCancelled() { throw Cancelled() }
        var frames: [Frame] = []
        frames.reserveCapacity(count)
        let batch = max(2, ProcessInfo.processInfo.activeProcessorCount)
        let count = self.count, bitDepth = self.bitDepth
        var next = 0
        progress(0, count)
        while next < count {
            let indices = Array(next..<min(next + batch, count))
            // Each frame of a batch renders, encodes, hashes and is written on a core of its own.
            let written = SharedBuffer<Result<Frame, ImageError>?>(count: indices.count, repeating: nil)
            DispatchQueue.concurrentPerform(iterations: indices.count) { k in
                let index = indices[k]
                let ends = index == 0 || index == count - 1
                let image = interpolator.frame(at: Double(index) / Double(count - 1))
                let path = directory + "/" + Self.name(index)
                do {
                    // Keyframes use the exact transfer function so that they come back bit for bit.
                    let data = try image.pngData(bitDepth: bitDepth, compression: .fast, precise: ends)
                    try ImageFile.writeAtomically(data, to: path)
                    let digest = Checksum.sha256Hex(data)
                    written[k] = .success(Frame(index: index, path: path, bytes: Int64(data.count), sha256: digest))
                } catch let error as ImageError {
                    written[k] = .failure(error)
                } catch {
                    written[k] = .failure(ImageError(path: path, reason: "\(error)"))
                }
            }
            for k in indices.indices { frames.append(try written[k]!.get()) }
            next += indices.count
            progress(next, count)
            if next < count && isCancelled() { throw Cancelled() }
        }
        return Output(frames: frames, reliableFraction: interpolator.reliableFraction,
                      crossfadeOnly: interpolator.crossfadeOnly)
    }
}
