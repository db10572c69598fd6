import Foundation

/// The per-pixel work of the in-between frames: both keyframes, their luma and the motion
/// fields both ways. `render(rows:t:into:)` may run on several threads at once.
struct Synthesis: Sendable {
    let width: Int
    let height: Int
    let a, b: [Float]
    let la, lb: [Float]
    let forward, backward: [SIMD2<Float>]
    let occludedA, occludedB: [Bool]
    /// The picture's dominant motion, start to end.
    let background: SIMD2<Float>

    init(start: LinearImage, end: LinearImage, startLuma: Plane, endLuma: Plane,
         forward: MotionField, backward: MotionField, background: SIMD2<Float>) {
        width = start.width
        height = start.height
        a = start.pixels
        b = end.pixels
        la = startLuma.values
        lb = endLuma.values
        self.forward = forward.vectors
        self.backward = backward.vectors
        occludedA = forward.occluded
        occludedB = backward.occluded
        self.background = background
    }

    /// Rows `rows` of the frame at time `t` (strictly between 0 and 1), into `out`.
    func render(rows: Range<Int>, t: Float, into out: UnsafeMutablePointer<Float>) {
        a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
        la.withUnsafeBufferPointer { la in
        lb.withUnsafeBufferPointer { lb in
        forward.withUnsafeBufferPointer { forward in
        backward.withUnsafeBufferPointer { backward in
        occludedA.withUnsafeBufferPointer { occludedA in
        occludedB.withUnsafeBufferPointer { occludedB in
            let kernel = Kernel(a: a.baseAddress!, b: b.baseAddress!, la: la.baseAddress!, lb: lb.baseAddress!,
                                forward: forward.baseAddress!, backward: backward.baseAddress!,
                                occludedA: occludedA.baseAddress!, occludedB: occludedB.baseAddress!,
                                width: width, height: height, background: background)
            withUnsafeTemporaryAllocation(of: (SIMD2<Float>, Bool).self, capacity: width) { fromA in
                for y in rows {
                    kernel.render(row: y, t: t, into: out + (y - rows.lowerBound) * width * 3, fromA: fromA.baseAddress!)
                }
            }
        }}}}}}}}
    }
}

extension Synthesis {
    /// `Synthesis` over raw pointers, for the inner loop.
    struct Kernel {
        let a, b, la, lb: UnsafePointer<Float>
        let forward, backward: UnsafePointer<SIMD2<Float>>
        let occludedA, occludedB: UnsafePointer<Bool>
        let width, height: Int
        let background: SIMD2<Float>

        /// The nearest pixel to `p`, clamped to the picture.
        @inline(__always) func index(_ p: SIMD2<Float>) -> Int {
            let x = min(max(p.x, 0), Float(width - 1)).nearestInteger
            let y = min(max(p.y, 0), Float(height - 1)).nearestInteger
            return y &* width &+ x
        }

        /// Pixel `k` of an interleaved RGB picture as a vector whose fourth lane is the next
        /// pixel's red (never used): one load instead of three. Not for the picture's last pixel.
        @inline(__always) func pixel(_ image: UnsafePointer<Float>, _ k: Int) -> SIMD4<Float> {
            UnsafeRawPointer(image + k &* 3).loadUnaligned(as: SIMD4<Float>.self)
        }

        /// The last pixel, whose vector load would read past the picture, as a vector.
        @inline(__always) func lastPixel(_ image: UnsafePointer<Float>, _ k: Int) -> SIMD4<Float> {
            k < width &* height &- 1 ? pixel(image, k) : SIMD4(image[k * 3], image[k * 3 + 1], image[k * 3 + 2], 0)
        }

        @inline(__always) func sampleRGB(_ image: UnsafePointer<Float>, _ p: SIMD2<Float>) -> SIMD4<Float> {
            let x = min(max(p.x, 0), Float(width - 1)), y = min(max(p.y, 0), Float(height - 1))
            let (x0, fx) = x.tapAndWeight, (y0, fy) = y.tapAndWeight
            let right = x0 < width - 1 ? 1 : 0, down = y0 < height - 1 ? width : 0
            let k = y0 &* width &+ x0
            let q00, q10, q01, q11: SIMD4<Float>
            if k &+ down &+ right < width &* height &- 1 {
                q00 = pixel(image, k); q10 = pixel(image, k &+ right)
                q01 = pixel(image, k &+ down); q11 = pixel(image, k &+ down &+ right)
            } else {
                q00 = lastPixel(image, k); q10 = lastPixel(image, k &+ right)
                q01 = lastPixel(image, k &+ down); q11 = lastPixel(image, k &+ down &+ right)
            }
            let top = q00 + (q10 - q00) * fx
            let bottom = q01 + (q11 - q01) * fx
            return top + (bottom - top) * fy
        }

        @inline(__always) func sampleLuma(_ plane: UnsafePointer<Float>, _ p: SIMD2<Float>) -> Float {
            let x = min(max(p.x, 0), Float(width - 1)), y = min(max(p.y, 0), Float(height - 1))
            let (x0, fx) = x.tapAndWeight, (y0, fy) = y.tapAndWeight
            let right = x0 < width - 1 ? 1 : 0, down = y0 < height - 1 ? width : 0
            let q = plane + (y0 &* width &+ x0)
            let top = q[0] + (q[right] - q[0]) * fx
            let bottom = q[down] + (q[down + right] - q[down]) * fx
            return top + (bottom - top) * fy
        }

        /// The vector `v = sign * field[p + step * v]` that carries a keyframe pixel to `p`, by three
        /// fixed-point steps from pixel `i`'s own vector. A step that lands on the pixel it came from
        /// would repeat itself, so the iteration stops there: the same answer, mostly in one step.
        /// `settled` says it did, so that `field` at `p + step * v` is `sign * v` itself.
        @inline(__always)
        func settle(_ field: UnsafePointer<SIMD2<Float>>, sign: Float, _ p: SIMD2<Float>, _ i: Int,
                    step: Float) -> (v: SIMD2<Float>, settled: Bool) {
            var at = i
            var v = sign * field[i]
            for _ in 0..<3 {
                let next = index(p + step * v)
                if next == at { return (v, true) }
                at = next
                v = sign * field[next]
            }
            return (v, false)
        }

        /// How well a candidate motion `v` (start to end) explains a pixel at time t: `score`,
        /// less the photometric mismatch of the two keyframes there when `mismatched` (a
        /// mismatch is at most 1, luma being 0...1), so that it is sampled only when it decides.
        struct Verdict {
            var score: Float
            var mismatched: Bool
            var weightB: Float
            var v: SIMD2<Float>
            var pA, pB: SIMD2<Float>

            /// The lowest score the mismatch can bring, with room for rounding.
            var lowest: Float { mismatched ? score - 1.001 : score }
        }

        /// Whether `p` lies within the picture (or less than a pixel outside it).
        @inline(__always) func inside(_ p: SIMD2<Float>) -> Bool {
            p.x > -1 && p.y > -1 && p.x < Float(width) && p.y < Float(height)
        }

        /// Whether `own`, a keyframe's motion where `v` comes from, agrees with `v`: within a
        /// pixel, more for fast motion.
        @inline(__always) func agrees(_ own: SIMD2<Float>, _ v: SIMD2<Float>) -> Bool {
            let d = own - v
            return abs(d.x) + abs(d.y) <= 1.0 + 0.05 * (abs(v.x) + abs(v.y))
        }

        /// Whether the motion of each keyframe at `pA` and `pB`, the places `v` comes from,
        /// agrees with `v`, and those places' pixels.
        @inline(__always)
        func agreement(_ pA: SIMD2<Float>, _ pB: SIMD2<Float>, _ v: SIMD2<Float>) -> (a: Bool, b: Bool, iA: Int, iB: Int) {
            let iA = index(pA), iB = index(pB)
            return (inside(pA) && agrees(forward[iA], v), inside(pB) && agrees(-backward[iB], v), iA, iB)
        }

        /// The verdict on `v` when it competes with another candidate, before the mismatch.
        @inline(__always) func judge(_ x: SIMD2<Float>, _ v: SIMD2<Float>, t: Float) -> Verdict {
            let pA = x - t * v, pB = x + (1 - t) * v
            let agree = agreement(pA, pB, v)
            if agree.a && agree.b {
                let covered = occludedA[agree.iA] || occludedB[agree.iB]
                return Verdict(score: covered ? 3 : 4, mismatched: true, weightB: t, v: v, pA: pA, pB: pB)
            }
            if agree.a || agree.b {
                // One side only: what the other keyframe shows there is something else (covered or uncovered).
                let foreground = min(0.5, 0.01 * (abs(v.x - background.x) + abs(v.y - background.y)))
                return Verdict(score: 2 + foreground, mismatched: false, weightB: agree.a ? 0 : 1, v: v, pA: pA, pB: pB)
            }
            return Verdict(score: 1, mismatched: true, weightB: t, v: v, pA: pA, pB: pB)
        }

        /// The final score of a verdict: its mismatch sampled now.
        @inline(__always) func settledScore(_ verdict: Verdict) -> Float {
            guard verdict.mismatched else { return verdict.score }
            return verdict.score - abs(sampleLuma(la, verdict.pA) - sampleLuma(lb, verdict.pB))
        }

        /// The better of two verdicts (the first on a tie); the mismatches are sampled only when
        /// the scores' ranges overlap.
        @inline(__always) func better(_ first: Verdict, _ second: Verdict) -> Verdict {
            if second.lowest > first.score { return second }
            if second.score <= first.lowest { return first }
            return settledScore(second) > settledScore(first) ? second : first
        }

        /// Row `y` of the frame at time `t` (strictly between 0 and 1), as interleaved RGB.
        ///
        /// For every pixel, the vector that lands there is found from each keyframe: from the
        /// start keyframe by `settle`, and from the end keyframe first where that vector comes
        /// from (mostly the same vector again), by its own `settle` only when that differs. When
        /// the two agree (most of the picture) only which keyframes agree with it matters, and
        /// when they differ (a motion edge) each is judged, occlusion and photometric match
        /// included, and the better one taken. A vector both keyframes agree on blends both, one
        /// only a keyframe agrees on takes that keyframe alone, and one neither does is a plain
        /// blend. `fromA` is room for a row of vectors.
        func render(row y: Int, t: Float, into out: UnsafeMutablePointer<Float>,
                    fromA: UnsafeMutablePointer<(SIMD2<Float>, Bool)>) {
            let s = 1 - t
            // The search for each pixel's vector is a chain of dependent loads; in a loop of its
            // own, the searches of neighbouring pixels overlap.
            for x in 0..<width {
                fromA[x] = settle(forward, sign: 1, SIMD2(Float(x), Float(y)), y * width + x, step: -t)
            }
            for x in 0..<width {
                let p = SIMD2(Float(x), Float(y))
                let (va, settled) = fromA[x]
                // The end keyframe's motion where `va` comes from: when it is `va` again, that is
                // the end keyframe's vector landing here, and its own search is not needed.
                let back = -backward[index(p + s * va)]
                var vb = back
                var d = va - vb
                if abs(d.x) + abs(d.y) > 0.25 {
                    vb = settle(backward, sign: -1, p, y * width + x, step: s).v
                    d = va - vb
                }
                let v: SIMD2<Float>, weightB: Float
                if abs(d.x) + abs(d.y) > 0.25 {
                    let verdict = better(judge(p, va, t: t), judge(p, vb, t: t))
                    v = verdict.v
                    weightB = verdict.weightB
                } else {
                    // One candidate: its score decides nothing, only which keyframes agree with it.
                    // Where the search settled, the start keyframe's motion there is `va` itself.
                    v = va
                    let pA = p - t * va, pB = p + s * va
                    let agreeA = inside(pA) && (settled || agrees(forward[index(pA)], va))
                    let agreeB = inside(pB) && agrees(back, va)
                    weightB = agreeA == agreeB ? t : (agreeA ? 0 : 1)
                }
                let colour: SIMD4<Float>
                if weightB <= 0 {
                    colour = sampleRGB(a, p - t * v)
                } else if weightB >= 1 {
                    colour = sampleRGB(b, p + s * v)
                } else {
                    let ca = sampleRGB(a, p - t * v)
                    colour = ca + (sampleRGB(b, p + s * v) - ca) * weightB
                }
                if x < width - 1 {
                    // The fourth lane lands on the next pixel's red, which is written after it.
                    UnsafeMutableRawPointer(out + x * 3).storeBytes(of: colour, as: SIMD4<Float>.self)
                } else {
                    out[x * 3] = colour.x
                    out[x * 3 + 1] = colour.y
                    out[x * 3 + 2] = colour.z
                }
            }
        }
    }
}
