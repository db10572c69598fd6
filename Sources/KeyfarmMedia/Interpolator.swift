import Foundation

/// Motion-compensated in-betweening of two keyframes: estimates the motion both ways once,
/// then renders any moment between them.
///
/// Motion: a block search over luma pyramids (candidates from the level above, a small
/// integer search, Lucas-Kanade to sub-pixel), median-smoothed, checked forwards against
/// backwards; blocks that fail are filled from their neighbours with the vector closest to
/// the picture's dominant motion, and per-pixel vectors follow the picture at motion edges.
/// A frame at time t: for every pixel, the vector that lands there is found from each
/// keyframe by fixed-point iteration; a vector both keyframes agree on blends both, one
/// only a keyframe agrees on (the other side is covered) takes that keyframe alone, and a
/// pixel no vector explains is a plain blend. When too little of the picture matches (a
/// scene cut), every frame is a crossfade.
public final class Interpolator: Sendable {
    public let start: LinearImage
    public let end: LinearImage
    /// Fraction of blocks whose motion passed the forward-backward check.
    public let reliableFraction: Double
    /// True when the keyframes did not match well enough and frames are crossfades.
    public let crossfadeOnly: Bool

    /// The motion and pictures the in-betweens are made of; nil when every frame is a crossfade.
    let synthesis: Synthesis?

    /// Below this fraction of reliable blocks the keyframes are treated as unrelated.
    static let minimumReliableFraction = 0.2

    /// Analyses the motion between two keyframes of one size.
    public init(start: LinearImage, end: LinearImage) {
        precondition(start.width == end.width && start.height == end.height, "keyframes must have one size")
        self.start = start
        self.end = end
        if start.pixels == end.pixels {
            reliableFraction = 1
            crossfadeOnly = true   // identical keyframes: every frame is the keyframe itself
            synthesis = nil
            return
        }
        let estimator = MotionEstimator()
        let a = Plane(luma: start), b = Plane(luma: end)
        // Halving is a single pass a level: the two pyramids are built side by side.
        let pyramids = SharedBuffer<[Plane]>(count: 2, repeating: [])
        DispatchQueue.concurrentPerform(iterations: 2) { k in pyramids[k] = estimator.pyramid(k == 0 ? a : b) }
        let pyramidA = pyramids[0], pyramidB = pyramids[1]
        let fields = SharedBuffer<BlockField?>(count: 2, repeating: nil)
        DispatchQueue.concurrentPerform(iterations: 2) { direction in
            // Each direction parallelises its own rows as well; two at once keeps both cores busy.
            fields[direction] = direction == 0 ? estimator.estimate(from: pyramidA, to: pyramidB)
                                               : estimator.estimate(from: pyramidB, to: pyramidA)
        }
        let blocksAB = fields[0]!, blocksBA = fields[1]!
        let maximumCost: Float = 0.08
        let reliableAB = blocksAB.reliability(against: blocksBA, maximumCost: maximumCost)
        let reliableBA = blocksBA.reliability(against: blocksAB, maximumCost: maximumCost)
        let fraction = Double(reliableAB.filter { $0 }.count + reliableBA.filter { $0 }.count)
            / Double(reliableAB.count + reliableBA.count)
        reliableFraction = fraction
        guard fraction >= Self.minimumReliableFraction else {
            crossfadeOnly = true
            synthesis = nil
            return
        }
        crossfadeOnly = false
        let dominant = blocksAB.dominantMotion(reliable: reliableAB)
        let filledAB = blocksAB.filled(reliable: reliableAB, background: dominant)
        let filledBA = blocksBA.filled(reliable: reliableBA, background: -dominant)
        // Both directions at once, as for the blocks: where motion edges crowd into a few rows,
        // one direction's rows alone leave a core idle.
        let perPixel = SharedBuffer<MotionField?>(count: 2, repeating: nil)
        DispatchQueue.concurrentPerform(iterations: 2) { direction in
            perPixel[direction] = direction == 0 ? MotionField(blocks: filledAB, from: a, to: b)
                                                 : MotionField(blocks: filledBA, from: b, to: a)
        }
        var fieldAB = perPixel[0]!, fieldBA = perPixel[1]!
        // Let go of the buffer's copies, so that the fields' arrays are not copied when marked.
        perPixel[0] = nil
        perPixel[1] = nil
        fieldAB.markOccluded(against: fieldBA)
        fieldBA.markOccluded(against: fieldAB)
        fieldAB.fillOccluded(from: filledAB, background: dominant)
        fieldBA.fillOccluded(from: filledBA, background: -dominant)
        synthesis = Synthesis(start: start, end: end, startLuma: a, endLuma: b,
                              forward: fieldAB, backward: fieldBA, background: dominant)
    }

    /// The frame at `time` (0 is the start keyframe, 1 the end keyframe, both returned exactly).
    public func frame(at time: Double) -> LinearImage {
        if time <= 0 { return start }
        if time >= 1 { return end }
        let w = start.width
        let pixels: [Float] = parallelRows(start.height, perRow: w * 3) { band, out in
            render(rows: band, at: time, into: out + band.lowerBound * w * 3)
        }
        return LinearImage(width: w, height: start.height, pixels: pixels)
    }

    /// Renders rows `rows` of the frame at `time` into `out` (room for their `width * 3`
    /// floats each); safe to call on several threads at once for different rows.
    func render(rows: Range<Int>, at time: Double, into out: UnsafeMutablePointer<Float>) {
        let w = start.width
        let picture = time <= 0 ? start : (time >= 1 ? end : nil)
        if let picture {
            picture.pixels.withUnsafeBufferPointer { source in
                out.update(from: source.baseAddress! + rows.lowerBound * w * 3, count: rows.count * w * 3)
            }
            return
        }
        guard let synthesis else {
            Self.blend(start, end, Float(time), rows: rows, into: out)
            return
        }
        synthesis.render(rows: rows, t: Float(time), into: out)
    }

    /// The plain blend (1 - t) * start + t * end.
    public func crossfade(_ t: Float) -> LinearImage { Self.crossfade(start, end, t) }

    /// The plain blend (1 - t) * a + t * b of two pictures of one size, in linear light.
    public static func crossfade(_ a: LinearImage, _ b: LinearImage, _ t: Float) -> LinearImage {
        precondition(a.width == b.width && a.height == b.height, "a crossfade needs pictures of one size")
        let w = a.width
        let pixels: [Float] = parallelRows(a.height, perRow: w * 3) { band, out in
            blend(a, b, t, rows: band, into: out + band.lowerBound * w * 3)
        }
        return LinearImage(width: w, height: a.height, pixels: pixels)
    }

    /// Rows `rows` of the crossfade, into `out`.
    static func blend(_ a: LinearImage, _ b: LinearImage, _ t: Float, rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let first = rows.lowerBound * a.width * 3, count = rows.count * a.width * 3
        a.pixels.withUnsafeBufferPointer { pa in
            b.pixels.withUnsafeBufferPointer { pb in
                let pa = pa.baseAddress! + first, pb = pb.baseAddress! + first
                for i in 0..<count { out[i] = pa[i] + (pb[i] - pa[i]) * t }
            }
        }
    }
}
