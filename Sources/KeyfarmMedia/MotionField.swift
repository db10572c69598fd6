import Foundation

/// Per-pixel motion from one keyframe to the other, with the pixels that have no counterpart
/// (occluded in the other keyframe) marked and given the motion of what lies behind them.
struct MotionField: Sendable {
    let width: Int
    let height: Int
    /// Where each pixel is in the other keyframe, relative to where it is in this one.
    var vectors: [SIMD2<Float>]
    /// True where the pixel failed the forward-backward check: it is covered in the other keyframe.
    var occluded: [Bool]

    /// The nearest pixel to `p`, clamped to the picture.
    @inline(__always) func index(_ p: SIMD2<Float>) -> Int {
        let x = min(max(p.x, 0), Float(width - 1)).nearestInteger
        let y = min(max(p.y, 0), Float(height - 1)).nearestInteger
        return y &* width &+ x
    }

    /// Per-pixel vectors from a block field: bilinear where the neighbouring blocks agree, and
    /// where they do not (a motion edge), whichever neighbouring block's vector matches this
    /// pixel best, so edges follow the picture rather than the block grid.
    init(blocks: BlockField, from a: Plane, to b: Plane) {
        width = a.width
        height = a.height
        let count = width * height
        let size = Float(blocks.blockSize)
        let w = width, h = height
        // Each pixel column's left block column and its weight, the same on every row.
        let columnPlaces = (0..<w).map { x in
            let gx = (Float(x) + 0.5) / size - 0.5
            let c0 = Int(gx.rounded(.down))
            return (column: c0, fraction: gx - Float(c0))
        }
        vectors = a.values.withUnsafeBufferPointer { av in
            b.values.withUnsafeBufferPointer { bv in
                let matcher = BlockMatcher(a: av.baseAddress!, b: bv.baseAddress!, width: w, height: h)
                return parallelRows(h, perRow: w) { band, out in
                    var candidates = [SIMD2<Float>]()
                    candidates.reserveCapacity(9)
                    for y in band {
                        let gy = (Float(y) + 0.5) / size - 0.5
                        let r0 = Int(gy.rounded(.down)), fy = gy - Float(r0)
                        // The four blocks around a pixel change once every block width.
                        var corners = Int.min, candidatesColumn = Int.min
                        var v00 = SIMD2<Float>.zero, v10 = v00, v01 = v00, v11 = v00, agree = false
                        for x in 0..<w {
                            let (c0, fx) = columnPlaces[x]
                            if c0 != corners {
                                corners = c0
                                v00 = blocks.vector(c0, r0); v10 = blocks.vector(c0 + 1, r0)
                                v01 = blocks.vector(c0, r0 + 1); v11 = blocks.vector(c0 + 1, r0 + 1)
                                let low = pointwiseMin(pointwiseMin(v00, v10), pointwiseMin(v01, v11))
                                let high = pointwiseMax(pointwiseMax(v00, v10), pointwiseMax(v01, v11))
                                let spread = high - low
                                agree = max(spread.x, spread.y) < 0.75
                            }
                            if agree {
                                let top = v00 + (v10 - v00) * fx, bottom = v01 + (v11 - v01) * fx
                                out[y * w + x] = top + (bottom - top) * fy
                                continue
                            }
                            // The distinct vectors of the pixel's block and its neighbours, once per block.
                            let oc = x / blocks.blockSize, or = y / blocks.blockSize
                            if oc != candidatesColumn {
                                candidatesColumn = oc
                                candidates.removeAll(keepingCapacity: true)
                                for dy in -1...1 {
                                    for dx in -1...1 {
                                        let v = blocks.vector(oc + dx, or + dy)
                                        if !candidates.contains(where: { abs($0.x - v.x) + abs($0.y - v.y) < 0.25 }) {
                                            candidates.append(v)
                                        }
                                    }
                                }
                            }
                            let own = blocks.vector(oc, or)
                            var best = own, bestCost = Float.infinity
                            let centre = av.baseAddress! + (y * w + x)
                            let interior = x >= 1 && x <= w - 2 && y >= 1 && y <= h - 2
                            for v in candidates {
                                var cost: Float = 0
                                let floorX = v.x.rounded(.down), floorY = v.y.rounded(.down)
                                let ix = Int(floorX), iy = Int(floorY)
                                if interior && x + ix >= 1 && x + ix + 2 <= w - 1 && y + iy >= 1 && y + iy + 2 <= h - 1 {
                                    // All five taps and their neighbours are inside: one weight for all.
                                    let fx = v.x - floorX, fy = v.y - floorY
                                    let moved = bv.baseAddress! + ((y + iy) * w + x + ix)
                                    @inline(__always) func tap(_ offset: Int) -> Float {
                                        let q = moved + offset
                                        let top = q[0] + (q[1] - q[0]) * fx
                                        let bottom = q[w] + (q[w + 1] - q[w]) * fx
                                        return abs(centre[offset] - (top + (bottom - top) * fy))
                                    }
                                    cost = tap(0) + tap(-1) + tap(1) + tap(-w) + tap(w)
                                } else {
                                    for k in 0..<5 {
                                        let ox = k == 1 ? -1 : (k == 2 ? 1 : 0), oy = k == 3 ? -1 : (k == 4 ? 1 : 0)
                                        let sx = min(max(x + ox, 0), w - 1), sy = min(max(y + oy, 0), h - 1)
                                        cost += abs(av[sy * w + sx] - matcher.bilinearB(Float(sx) + v.x, Float(sy) + v.y))
                                    }
                                }
                                let d = v - own
                                cost += 0.01 * (abs(d.x) + abs(d.y)) / size
                                if cost < bestCost { bestCost = cost; best = v }
                            }
                            out[y * w + x] = best
                        }
                    }
                }
            }
        }
        occluded = [Bool](repeating: false, count: count)
    }

    /// Marks the pixels whose motion the other direction does not send back (within a pixel,
    /// more for fast motion) as occluded; the vectors stay as they are, so that the other
    /// direction can be checked against them next (see `fillOccluded`).
    mutating func markOccluded(against other: MotionField) {
        let w = width, h = height
        // Nothing is marked before the check, so the flags are set in place.
        occluded.withUnsafeMutableBufferPointer { flags in
            let flags = UncheckedSendable(flags.baseAddress!)
            vectors.withUnsafeBufferPointer { own in
                other.vectors.withUnsafeBufferPointer { back in
                    parallelBands(h, minimumBand: 4) { band in
                        for y in band {
                            for x in 0..<w {
                                let i = y * w + x
                                let v = own[i]
                                let p = SIMD2(Float(x), Float(y)) + v
                                let returned = back[other.index(p)]
                                let error = v + returned
                                let tolerance: Float = 1.0 + 0.05 * (abs(v.x) + abs(v.y))
                                let outside = p.x < -0.5 || p.y < -0.5 || p.x > Float(w) - 0.5 || p.y > Float(h) - 0.5
                                flags.value[i] = abs(error.x) + abs(error.y) > tolerance || outside
                            }
                        }
                    }
                }
            }
        }
    }

    /// Gives the occluded pixels `blocks`' choice of the neighbouring blocks' vectors (see
    /// `behind`). Both directions are marked before either is filled: filling one in place
    /// while the other still needs its raw vectors would otherwise cost a copy of the field.
    mutating func fillOccluded(from blocks: BlockField, background: SIMD2<Float>) {
        let w = width, h = height
        occluded.withUnsafeBufferPointer { flags in
            vectors.withUnsafeMutableBufferPointer { own in
                // Each pixel rewrites only its own vector, so the rows update in place.
                let own = UncheckedSendable(own.baseAddress!)
                parallelBands(h, minimumBand: 4) { band in
                    for y in band {
                        for x in 0..<w where flags[y * w + x] {
                            own.value[y * w + x] = Self.behind(x: x, y: y, blocks: blocks, background: background)
                        }
                    }
                }
            }
        }
    }

    /// For an occluded pixel: of the neighbouring blocks' vectors, the one closest to the
    /// background motion (what is covered is usually behind, and the background dominates).
    @inline(__always)
    static func behind(x: Int, y: Int, blocks: BlockField, background: SIMD2<Float>) -> SIMD2<Float> {
        let oc = x / blocks.blockSize, or = y / blocks.blockSize
        var best = blocks.vector(oc, or), bestDistance = Float.infinity
        for dy in -1...1 {
            for dx in -1...1 {
                let v = blocks.vector(oc + dx, or + dy)
                let d = v - background
                let distance = abs(d.x) + abs(d.y)
                if distance < bestDistance { bestDistance = distance; best = v }
            }
        }
        return best
    }
}

extension BlockField {
    /// The blocks whose vector the other direction's field sends back, and a cheap match.
    func reliability(against other: BlockField, maximumCost: Float) -> [Bool] {
        var reliable = [Bool](repeating: false, count: columns * rows)
        let size = Float(blockSize)
        for row in 0..<rows {
            for column in 0..<columns {
                let v = vector(column, row)
                let center = SIMD2((Float(column) + 0.5) * size, (Float(row) + 0.5) * size)
                let p = center + v
                let c = Int((p.x / size - 0.5).rounded(.down)), r = Int((p.y / size - 0.5).rounded(.down))
                var error = Float.infinity
                for dy in 0...1 {
                    for dx in 0...1 {
                        let e = v + other.vector(c + dx, r + dy)
                        error = min(error, abs(e.x) + abs(e.y))
                    }
                }
                reliable[row * columns + column] = error <= 1.0 + 0.05 * (abs(v.x) + abs(v.y))
                    && costs[row * columns + column] <= maximumCost
            }
        }
        return reliable
    }

    /// Gives every unreliable block, growing inwards from reliable ones, the neighbouring
    /// vector closest to `background`.
    func filled(reliable: [Bool], background: SIMD2<Float>) -> BlockField {
        var out = self
        var known = reliable
        guard known.contains(true) else { return out }
        var pending = true
        var pass = 0
        while pending && pass < columns + rows {
            pending = false
            pass += 1
            var next = known
            for row in 0..<rows {
                for column in 0..<columns where !known[row * columns + column] {
                    var best: SIMD2<Float>?
                    var bestDistance = Float.infinity
                    for dy in -1...1 {
                        for dx in -1...1 {
                            let c = column + dx, r = row + dy
                            guard c >= 0, r >= 0, c < columns, r < rows, known[r * columns + c] else { continue }
                            let v = out.vectors[r * columns + c]
                            let d = v - background
                            if abs(d.x) + abs(d.y) < bestDistance { bestDistance = abs(d.x) + abs(d.y); best = v }
                        }
                    }
                    if let best {
                        out.vectors[row * columns + column] = best
                        next[row * columns + column] = true
                    } else {
                        pending = true
                    }
                }
            }
            known = next
        }
        return out
    }

    /// The component-wise median of the reliable vectors: the motion most of the picture has.
    func dominantMotion(reliable: [Bool]) -> SIMD2<Float> {
        var xs = [Float](), ys = [Float]()
        for i in 0..<vectors.count where reliable[i] {
            xs.append(vectors[i].x); ys.append(vectors[i].y)
        }
        guard !xs.isEmpty else { return .zero }
        xs.sort(); ys.sort()
        return SIMD2(xs[xs.count / 2], ys[ys.count / 2])
    }
}
