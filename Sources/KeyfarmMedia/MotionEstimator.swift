import Foundation

/// A single-channel float picture: the perceptual luma the motion search matches on.
struct Plane: Sendable {
    let width: Int
    let height: Int
    var values: [Float]

    /// sRGB-encoded luma (Rec. 709 weights on linear light, then the sRGB curve), so that a
    /// difference in the shadows weighs like one in the highlights.
    init(luma image: LinearImage) {
        let width = image.width
        self.width = width
        height = image.height
        values = image.pixels.withUnsafeBufferPointer { rgb in
            SRGB.encodeTable.withUnsafeBufferPointer { table in
                parallelRows(image.height, perRow: width, minimumBand: 16) { rows, out in
                    for i in (rows.lowerBound * width)..<(rows.upperBound * width) {
                        let y = 0.2126 * rgb[i * 3] + 0.7152 * rgb[i * 3 + 1] + 0.0722 * rgb[i * 3 + 2]
                        out[i] = SRGB.fastEncode(y, table: table.baseAddress!)
                    }
                }
            }
        }
    }

    init(width: Int, height: Int, values: [Float]) {
        self.width = width
        self.height = height
        self.values = values
    }

    /// Half the size, each value the mean of a 2x2 square (the last row or column repeats).
    func halved() -> Plane {
        let w = max(1, (width + 1) / 2), h = max(1, (height + 1) / 2)
        var out = [Float](repeating: 0, count: w * h)
        values.withUnsafeBufferPointer { v in
            for y in 0..<h {
                let y0 = min(2 * y, height - 1), y1 = min(2 * y + 1, height - 1)
                for x in 0..<w {
                    let x0 = min(2 * x, width - 1), x1 = min(2 * x + 1, width - 1)
                    out[y * w + x] = 0.25 * (v[y0 * width + x0] + v[y0 * width + x1] + v[y1 * width + x0] + v[y1 * width + x1])
                }
            }
        }
        return Plane(width: w, height: h, values: out)
    }
}

/// One motion vector per block of a picture: where that block's content is in the other picture.
struct BlockField: Sendable {
    let columns: Int
    let rows: Int
    let blockSize: Int
    var vectors: [SIMD2<Float>]
    /// Mean absolute luma difference per pixel of the block's best match.
    var costs: [Float]

    @inline(__always) func vector(_ column: Int, _ row: Int) -> SIMD2<Float> {
        vectors[min(max(row, 0), rows - 1) * columns + min(max(column, 0), columns - 1)]
    }

    /// The vector of the block that contains pixel position `p`.
    @inline(__always) func nearest(_ p: SIMD2<Float>) -> SIMD2<Float> {
        vector(Int(p.x) / blockSize, Int(p.y) / blockSize)
    }

    /// The component-wise median of the 3x3 neighbourhood's vectors, by a network of
    /// nineteen compare-exchanges that leaves it in the middle (Paeth's median of nine, as in
    /// Devillard's "Fast median search"); both components at once, with no sort and no arrays.
    func median(_ column: Int, _ row: Int) -> SIMD2<Float> {
        var p0 = vector(column - 1, row - 1), p1 = vector(column, row - 1), p2 = vector(column + 1, row - 1)
        var p3 = vector(column - 1, row), p4 = vector(column, row), p5 = vector(column + 1, row)
        var p6 = vector(column - 1, row + 1), p7 = vector(column, row + 1), p8 = vector(column + 1, row + 1)
        @inline(__always) func order(_ a: inout SIMD2<Float>, _ b: inout SIMD2<Float>) {
            let swap = a .> b
            let low = a.replacing(with: b, where: swap)
            b.replace(with: a, where: swap)
            a = low
        }
        order(&p1, &p2); order(&p4, &p5); order(&p7, &p8)
        order(&p0, &p1); order(&p3, &p4); order(&p6, &p7)
        order(&p1, &p2); order(&p4, &p5); order(&p7, &p8)
        order(&p0, &p3); order(&p5, &p8); order(&p4, &p7)
        order(&p3, &p6); order(&p1, &p4); order(&p2, &p5)
        order(&p4, &p7); order(&p4, &p2); order(&p6, &p4)
        order(&p4, &p2)
        return p4
    }

    /// Whether `flags` is set for any block of the 3x3 neighbourhood (edges repeat, as in `vector`).
    @inline(__always) func neighbourhood(_ column: Int, _ row: Int, contains flags: SharedBuffer<Bool>) -> Bool {
        for dy in -1...1 {
            let r = min(max(row + dy, 0), rows - 1)
            for dx in -1...1 where flags[r * columns + min(max(column + dx, 0), columns - 1)] { return true }
        }
        return false
    }
}

/// Hierarchical block motion estimation: a pyramid search from the coarsest level down,
/// candidates from the level above and its neighbours, a small integer search, then
/// Lucas-Kanade steps to a sub-pixel vector.
struct MotionEstimator {
    var blockSize = 8
    /// Pixels added around each block when matching, for a steadier match.
    var margin = 2
    /// Integer search radius around the best candidate at the coarsest and the finer levels.
    var coarseRadius = 10
    var fineRadius = 1
    /// The coarsest level is the first whose shorter side is at most this.
    var coarsestSide = 40

    func pyramid(_ plane: Plane) -> [Plane] {
        var levels = [plane]
        while min(levels.last!.width, levels.last!.height) > coarsestSide && levels.count < 8 {
            levels.append(levels.last!.halved())
        }
        return levels
    }

    /// The block field of `from` against `to`, both pyramids of the same shape, finest level.
    func estimate(from: [Plane], to: [Plane]) -> BlockField {
        var field: BlockField?
        for level in stride(from: from.count - 1, through: 0, by: -1) {
            let estimated = estimateLevel(a: from[level], b: to[level], parent: field,
                                          radius: field == nil ? coarseRadius : fineRadius)
            field = propagate(estimated, a: from[level], b: to[level])
        }
        return field!
    }

    func estimateLevel(a: Plane, b: Plane, parent: BlockField?, radius: Int) -> BlockField {
        let columns = (a.width + blockSize - 1) / blockSize, rows = (a.height + blockSize - 1) / blockSize
        let vectors = SharedBuffer<SIMD2<Float>>(count: columns * rows, repeating: .zero)
        let costs = SharedBuffer<Float>(count: columns * rows, repeating: 0)
        let parentDominant = parent.map { $0.dominantMotion(reliable: [Bool](repeating: true, count: $0.vectors.count)) } ?? .zero
        a.values.withUnsafeBufferPointer { av in
            b.values.withUnsafeBufferPointer { bv in
                let matcher = BlockMatcher(a: av.baseAddress!, b: bv.baseAddress!, width: a.width, height: a.height)
                parallelBands(rows, minimumBand: 1) { band in
                    var candidates = [SIMD2<Float>]()
                    candidates.reserveCapacity(12)
                    // Vectors already costed for this block: neighbours often share one, and a
                    // repeat can never beat the first (ties keep the first).
                    var tried = [SIMD2<Int>]()
                    tried.reserveCapacity(12 + (2 * radius + 1) * (2 * radius + 1))
                    for row in band {
                        for column in 0..<columns {
                            let window = self.window(column, row, a)
                            candidates.removeAll(keepingCapacity: true)
                            tried.removeAll(keepingCapacity: true)
                            candidates.append(.zero)
                            var prior = SIMD2<Float>.zero
                            if let parent {
                                let pc = column / 2, pr = row / 2
                                prior = 2 * parent.vector(pc, pr)
                                for dy in -1...1 { for dx in -1...1 { candidates.append(2 * parent.vector(pc + dx, pr + dy)) } }
                                candidates.append(2 * parentDominant)
                            }
                            // The best integer candidate, with a light pull towards the prior.
                            var best = SIMD2<Int>(0, 0), bestCost = Float.infinity, bestMatch = Float.infinity
                            func consider(_ v: SIMD2<Int>) {
                                if tried.contains(v) { return }
                                tried.append(v)
                                let pull = penalty(SIMD2<Float>(v), prior)
                                let match = matcher.cost(window, v, limit: bestCost - pull)
                                let cost = match + pull
                                if cost < bestCost { bestCost = cost; bestMatch = match; best = v }
                            }
                            for candidate in candidates {
                                consider(SIMD2<Int>(Int(candidate.x.rounded()), Int(candidate.y.rounded())))
                            }
                            let center = best
                            for dy in -radius...radius {
                                for dx in -radius...radius where dx != 0 || dy != 0 {
                                    consider(center &+ SIMD2(dx, dy))
                                }
                            }
                            let (refined, cost) = matcher.refine(window, SIMD2<Float>(best), startCost: bestMatch)
                            vectors[row * columns + column] = refined
                            costs[row * columns + column] = cost
                        }
                    }
                }
            }
        }
        return BlockField(columns: columns, rows: rows, blockSize: blockSize, vectors: vectors.array, costs: costs.array)
    }

    /// A light pull towards the predicted vector that settles ties in flat areas; capped, so it
    /// never stops a block from taking a quite different motion that matches better.
    @inline(__always) func penalty(_ v: SIMD2<Float>, _ prior: SIMD2<Float>) -> Float {
        let d = v - prior
        return 0.001 * min(abs(d.x) + abs(d.y), 3)
    }

    /// Lets each block try its neighbours' vectors and their median (two Jacobi passes), so
    /// that a motion found in one block spreads over a region the candidates from above
    /// missed, and a lone outlier gives way to its neighbours' motion when that matches about
    /// as well. Unlike a plain median filter, a small object that matches keeps its motion.
    func propagate(_ field: BlockField, a: Plane, b: Plane) -> BlockField {
        var current = field
        a.values.withUnsafeBufferPointer { av in
            b.values.withUnsafeBufferPointer { bv in
                let matcher = BlockMatcher(a: av.baseAddress!, b: bv.baseAddress!, width: a.width, height: a.height)
                // Which blocks the pass before changed (bit for bit): a block none of whose 3x3
                // neighbours changed has the same inputs as in that pass, so the same answer.
                var changed: SharedBuffer<Bool>?
                for _ in 0..<2 {
                    let source = current
                    let vectors = SharedBuffer<SIMD2<Float>>(count: source.vectors.count, repeating: .zero)
                    let costs = SharedBuffer<Float>(count: source.vectors.count, repeating: 0)
                    let before = changed
                    let changes = SharedBuffer<Bool>(count: source.vectors.count, repeating: false)
                    parallelBands(source.rows, minimumBand: 1) { band in
                        for row in band {
                            for column in 0..<source.columns {
                                let i = row * source.columns + column
                                if let before, !source.neighbourhood(column, row, contains: before) {
                                    vectors[i] = source.vectors[i]
                                    costs[i] = source.costs[i]
                                    continue
                                }
                                let window = self.window(column, row, a)
                                var best = source.vectors[i], bestCost = source.costs[i]
                                let median = source.median(column, row)
                                let medianCost = matcher.subpixelCost(window, median, limit: bestCost + 0.002)
                                if medianCost <= bestCost + 0.002 { best = median; bestCost = medianCost }
                                for k in 0..<4 {
                                    let dx = k == 0 ? -1 : (k == 1 ? 1 : 0), dy = k == 2 ? -1 : (k == 3 ? 1 : 0)
                                    let v = source.vector(column + dx, row + dy)
                                    let d = v - best
                                    if abs(d.x) + abs(d.y) < 0.5 { continue }
                                    let cost = matcher.subpixelCost(window, v, limit: bestCost)
                                    if cost < bestCost { bestCost = cost; best = v }
                                }
                                vectors[i] = best
                                costs[i] = bestCost
                                changes[i] = best.x.bitPattern != source.vectors[i].x.bitPattern
                                    || best.y.bitPattern != source.vectors[i].y.bitPattern
                                    || bestCost.bitPattern != source.costs[i].bitPattern
                            }
                        }
                    }
                    current.vectors = vectors.array
                    current.costs = costs.array
                    changed = changes
                }
            }
        }
        return current
    }

    @inline(__always) func window(_ column: Int, _ row: Int, _ a: Plane) -> BlockMatcher.Window {
        BlockMatcher.Window(x0: max(column * blockSize - margin, 0), y0: max(row * blockSize - margin, 0),
                            x1: min(column * blockSize + blockSize + margin, a.width),
                            y1: min(row * blockSize + blockSize + margin, a.height))
    }
}
