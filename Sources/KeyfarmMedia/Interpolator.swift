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

    let forward: MotionField?   // start -> end
    let backward: MotionField?  // end -> start
    let startLuma: Plane?
    let endLuma: Plane?
    let background: SIMD2<Float>

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
            forward = nil; backward = nil; startLuma = nil; endLuma = nil; background = .zero
            return
        }
        let estimator = MotionEstimator()
        let a = Plane(luma: start), b = Plane(luma: end)
        let pyramidA = estimator.pyramid(a), pyramidB = estimator.pyramid(b)
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
            forward = nil; backward = nil; startLuma = nil; endLuma = nil; background = .zero
            return
        }
        crossfadeOnly = false
        let dominant = blocksAB.dominantMotion(reliable: reliableAB)
        background = dominant
        let filledAB = blocksAB.filled(reliable: reliableAB, background: dominant)
        let filledBA = blocksBA.filled(reliable: reliableBA, background: -dominant)
        var fieldAB = MotionField(blocks: filledAB, from: a, to: b)
        var fieldBA = MotionField(blocks: filledBA, from: b, to: a)
        let rawAB = fieldAB
        fieldAB.checkConsistency(against: fieldBA, filled: filledAB, background: dominant)
        fieldBA.checkConsistency(against: rawAB, filled: filledBA, background: -dominant)
        forward = fieldAB
        backward = fieldBA
        startLuma = a
        endLuma = b
    }

    /// The frame at `time` (0 is the start keyframe, 1 the end keyframe, both returned exactly).
    public func frame(at time: Double) -> LinearImage {
        if time <= 0 { return start }
        if time >= 1 { return end }
        let t = Float(time)
        guard !crossfadeOnly, let forward, let backward, let startLuma, let endLuma else {
            return crossfade(t)
        }
        let w = start.width, h = start.height
        let out = SharedBuffer<Float>(count: w * h * 3, repeating: 0)
        let background = self.background
        start.pixels.withUnsafeBufferPointer { ap in
            end.pixels.withUnsafeBufferPointer { bp in
                forward.vectors.withUnsafeBufferPointer { fv in
                    backward.vectors.withUnsafeBufferPointer { bv in
                        forward.occluded.withUnsafeBufferPointer { fo in
                            backward.occluded.withUnsafeBufferPointer { bo in
                                startLuma.values.withUnsafeBufferPointer { al in
                                    endLuma.values.withUnsafeBufferPointer { bl in
                                        let s = Synthesis(a: ap.baseAddress!, b: bp.baseAddress!, la: al.baseAddress!, lb: bl.baseAddress!,
                                                          forward: fv.baseAddress!, backward: bv.baseAddress!,
                                                          occludedA: fo.baseAddress!, occludedB: bo.baseAddress!,
                                                          width: w, height: h, t: t, background: background)
                                        parallelBands(h, minimumBand: 4) { band in
                                            for y in band { s.render(row: y, into: out.pointer + y * w * 3) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return LinearImage(width: w, height: h, pixels: out.array)
    }

    /// The plain blend (1 - t) * start + t * end.
    public func crossfade(_ t: Float) -> LinearImage { Self.crossfade(start, end, t) }

    /// The plain blend (1 - t) * a + t * b of two pictures of one size, in linear light.
    public static func crossfade(_ a: LinearImage, _ b: LinearImage, _ t: Float) -> LinearImage {
        precondition(a.width == b.width && a.height == b.height, "a crossfade needs pictures of one size")
        let out = SharedBuffer<Float>(count: a.pixels.count, repeating: 0)
        a.pixels.withUnsafeBufferPointer { pa in
            b.pixels.withUnsafeBufferPointer { pb in
                parallelBands(pa.count, minimumBand: 65_536) { band in
                    for i in band { out[i] = pa[i] + (pb[i] - pa[i]) * t }
                }
            }
        }
        return LinearImage(width: a.width, height: a.height, pixels: out.array)
    }
}

/// The per-pixel work of one in-between frame, over raw pointers.
struct Synthesis {
    let a, b, la, lb: UnsafePointer<Float>
    let forward, backward: UnsafePointer<SIMD2<Float>>
    let occludedA, occludedB: UnsafePointer<Bool>
    let width, height: Int
    let t: Float
    let background: SIMD2<Float>

    /// The nearest pixel to `p`, clamped to the picture (clamping first makes truncation a floor).
    @inline(__always) func index(_ p: SIMD2<Float>) -> Int {
        let x = Int(min(max(p.x, 0), Float(width - 1)) + 0.5)
        let y = Int(min(max(p.y, 0), Float(height - 1)) + 0.5)
        return y * width + x
    }

    @inline(__always) func sampleRGB(_ image: UnsafePointer<Float>, _ p: SIMD2<Float>) -> SIMD3<Float> {
        let x = min(max(p.x, 0), Float(width - 1)), y = min(max(p.y, 0), Float(height - 1))
        let x0 = Int(x), y0 = Int(y)
        let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let fx = x - Float(x0), fy = y - Float(y0)
        @inline(__always) func at(_ px: Int, _ py: Int) -> SIMD3<Float> {
            let q = image + (py * width + px) * 3
            return SIMD3(q[0], q[1], q[2])
        }
        let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx
        let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx
        return top + (bottom - top) * fy
    }

    @inline(__always) func sampleLuma(_ plane: UnsafePointer<Float>, _ p: SIMD2<Float>) -> Float {
        let x = min(max(p.x, 0), Float(width - 1)), y = min(max(p.y, 0), Float(height - 1))
        let x0 = Int(x), y0 = Int(y)
        let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let fx = x - Float(x0), fy = y - Float(y0)
        let top = plane[y0 * width + x0] + (plane[y0 * width + x1] - plane[y0 * width + x0]) * fx
        let bottom = plane[y1 * width + x0] + (plane[y1 * width + x1] - plane[y1 * width + x0]) * fx
        return top + (bottom - top) * fy
    }

    /// How well a candidate motion `v` (start to end) explains pixel `x` at time t.
    struct Verdict {
        var score: Float
        var weightB: Float
        var v: SIMD2<Float>
    }

    @inline(__always) func judge(_ x: SIMD2<Float>, _ v: SIMD2<Float>, compare: Bool) -> Verdict {
        let pA = x - t * v, pB = x + (1 - t) * v
        let iA = index(pA), iB = index(pB)
        let tolerance: Float = 1.0 + 0.05 * (abs(v.x) + abs(v.y))
        let dA = forward[iA] - v, dB = -backward[iB] - v
        let agreeA = abs(dA.x) + abs(dA.y) <= tolerance && pA.x > -1 && pA.y > -1 && pA.x < Float(width) && pA.y < Float(height)
        let agreeB = abs(dB.x) + abs(dB.y) <= tolerance && pB.x > -1 && pB.y > -1 && pB.x < Float(width) && pB.y < Float(height)
        let coveredA = occludedA[iA], coveredB = occludedB[iB]
        // The photometric mismatch only matters when two candidates compete.
        let mismatch = compare ? abs(sampleLuma(la, pA) - sampleLuma(lb, pB)) : 0
        if agreeA && agreeB && !coveredA && !coveredB {
            return Verdict(score: 4 - mismatch, weightB: t, v: v)
        }
        if agreeA && agreeB {
            return Verdict(score: 3 - mismatch, weightB: t, v: v)
        }
        // One side only: what the other keyframe shows there is something else (covered or uncovered).
        let foreground = min(0.5, 0.01 * (abs(v.x - background.x) + abs(v.y - background.y)))
        if agreeA { return Verdict(score: 2 + foreground, weightB: 0, v: v) }
        if agreeB { return Verdict(score: 2 + foreground, weightB: 1, v: v) }
        return Verdict(score: 1 - mismatch, weightB: t, v: v)
    }

    func render(row y: Int, into out: UnsafeMutablePointer<Float>) {
        let s = 1 - t
        for x in 0..<width {
            let p = SIMD2(Float(x), Float(y))
            // The vector that carries a start pixel here: v = F(p - t v), by iteration.
            var va = forward[y * width + x]
            for _ in 0..<3 { va = forward[index(p - t * va)] }
            var vb = -backward[y * width + x]
            for _ in 0..<3 { vb = -backward[index(p + s * vb)] }
            let d = va - vb
            let compete = abs(d.x) + abs(d.y) > 0.25
            var verdict = judge(p, va, compare: compete)
            if compete {
                let other = judge(p, vb, compare: true)
                if other.score > verdict.score { verdict = other }
            }
            let v = verdict.v
            let colour: SIMD3<Float>
            if verdict.weightB <= 0 {
                colour = sampleRGB(a, p - t * v)
            } else if verdict.weightB >= 1 {
                colour = sampleRGB(b, p + s * v)
            } else {
                let ca = sampleRGB(a, p - t * v)
                colour = ca + (sampleRGB(b, p + s * v) - ca) * verdict.weightB
            }
            out[x * 3] = colour.x; out[x * 3 + 1] = colour.y; out[x * 3 + 2] = colour.z
        }
    }
}
