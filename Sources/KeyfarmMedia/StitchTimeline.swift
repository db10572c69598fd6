/// Which rendered frames make each frame of a stitched shot: pure arithmetic, no I/O.
///
/// Pieces (segment jobs, or the parts of a split segment) cover frames `[start, end]` of the
/// shot and neighbours share their boundary frame. The shared frame is kept once, from the
/// later piece (which starts on its keyframe). With a seam of `s` frames, the `s` frames
/// around each boundary `b` are a crossfade: frame x is `(1 - w) * A(min(x, b)) + w * B(max(x, b))`
/// with `w` rising evenly across the window, so each piece is held at its end of the seam and
/// the shot keeps exactly its planned frame count (unlike ffmpeg's xfade, which overlaps and
/// shortens). A window never takes more than half of a piece's inner frames, so windows of
/// neighbouring seams never meet.
public struct StitchTimeline: Sendable, Equatable {
    /// One contribution to an output frame: frame `local` (0-based within the piece's
    /// planned frames) of piece `piece`, weighted.
    public struct Contribution: Sendable, Equatable {
        public var piece: Int
        public var local: Int
        public var weight: Double

        public init(piece: Int, local: Int, weight: Double) {
            self.piece = piece
            self.local = local
            self.weight = weight
        }
    }

    /// For every output frame, its contributions (one, or two inside a seam), weights summing to 1.
    public let frames: [[Contribution]]

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Lays out `pieces` (each `(start, end)`, in order) over a shot of `frameCount` frames.
    public init(pieces: [(start: Int, end: Int)], frameCount: Int, seam: Int) throws {
        guard !pieces.isEmpty else { throw Invalid(description: "a shot needs at least one segment to stitch") }
        guard pieces[0].start == 0 else { throw Invalid(description: "the first segment starts at frame \(pieces[0].start), not 0") }
        guard pieces[pieces.count - 1].end == frameCount - 1 else {
            throw Invalid(description: "the last segment ends at frame \(pieces[pieces.count - 1].end), but the shot has \(frameCount) frames (last \(frameCount - 1))")
        }
        for (k, piece) in pieces.enumerated() {
            guard piece.end > piece.start else {
                throw Invalid(description: "segment \(k) spans frames \(piece.start)-\(piece.end); a segment has at least 2 frames")
            }
            if k > 0 && piece.start != pieces[k - 1].end {
                throw Invalid(description: "segment \(k) starts at frame \(piece.start), but segment \(k - 1) ends at \(pieces[k - 1].end) (neighbours share their boundary frame)")
            }
        }
        guard (0...64).contains(seam) else { throw Invalid(description: "seam \(seam) is out of range (0 to 64 frames)") }

        var frames = [[Contribution]](repeating: [], count: frameCount)
        for (k, piece) in pieces.enumerated() {
            let last = k == pieces.count - 1 ? piece.end : piece.end - 1
            for x in piece.start...last { frames[x] = [Contribution(piece: k, local: x - piece.start, weight: 1)] }
        }
        if seam > 0 {
            for k in 0..<(pieces.count - 1) {
                let a = pieces[k], b = pieces[k + 1], boundary = a.end
                let innerA = a.end - a.start - 1, innerB = b.end - b.start - 1
                let before = min((seam - 1) / 2, innerA / 2)
                let after = min(seam - 1 - (seam - 1) / 2, innerB / 2)
                let length = before + after + 1
                for j in 0..<length {
                    let x = boundary - before + j
                    let w = Double(j + 1) / Double(length + 1)
                    frames[x] = [Contribution(piece: k, local: min(x, boundary) - a.start, weight: 1 - w),
                                 Contribution(piece: k + 1, local: max(x, boundary) - b.start, weight: w)]
                }
            }
        }
        self.frames = frames
    }

    /// Where frame `local` of a piece planned with `planned` frames falls in a source of
    /// `available` frames: both ends meet, the frames between are spread evenly.
    public static func sourcePosition(local: Int, planned: Int, available: Int) -> Double {
        guard planned > 1, available > 1 else { return 0 }
        return Double(local) * Double(available - 1) / Double(planned - 1)
    }
}
