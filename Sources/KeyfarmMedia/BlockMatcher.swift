/// Block costs and sub-pixel refinement on two luma planes of one size.
///
/// A sub-pixel vector moves the whole window by the same fraction of a pixel, so the
/// bilinear weights are the same for every pixel of it: away from the picture's edges a row
/// of the window is four pixels per vector operation, with no clamping. Windows that reach
/// an edge, or are not a whole number of vectors wide, take the clamped scalar path.
struct BlockMatcher {
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let width: Int
    let height: Int

    struct Window {
        var x0, y0, x1, y1: Int
        var count: Int { (x1 - x0) * (y1 - y0) }
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
    }

    @inline(__always) static func magnitude(_ d: SIMD4<Float>) -> SIMD4<Float> {
        d.replacing(with: -d, where: d .< 0)
    }

    /// Mean absolute difference of the window in `a` and the window moved by `v` in `b`
    /// (coordinates outside `b` repeat its edge). Stops early, returning infinity, once the
    /// difference so far reaches `limit`: the sum only grows, so such a vector cannot win.
    @inline(__always) func cost(_ w: Window, _ v: SIMD2<Int>, limit: Float = .infinity) -> Float {
        var sum: Float = 0
        let inside = w.x0 + v.x >= 0 && w.x1 + v.x <= width && w.y0 + v.y >= 0 && w.y1 + v.y <= height
        let count = Float(w.count)
        if inside {
            var lanes = SIMD4<Float>.zero
            for y in w.y0..<w.y1 {
                let ra = a + y * width, rb = b + (y + v.y) * width + v.x
                var x = w.x0
                while x + 4 <= w.x1 {
                    lanes += Self.magnitude(Self.load(ra + x) - Self.load(rb + x))
                    x += 4
                }
                while x < w.x1 { sum += abs(ra[x] - rb[x]); x += 1 }
                if (y - w.y0) & 3 == 3 && (lanes.sum() + sum) / count >= limit { return .infinity }
            }
            sum += lanes.sum()
        } else {
            for y in w.y0..<w.y1 {
                let yb = min(max(y + v.y, 0), height - 1)
                for x in w.x0..<w.x1 {
                    let xb = min(max(x + v.x, 0), width - 1)
                    sum += abs(a[y * width + x] - b[yb * width + xb])
                }
            }
        }
        return sum / count
    }

    @inline(__always) func sampleB(_ x: Float, _ y: Float) -> Float {
        let cx = min(max(x, 0), Float(width - 1)), cy = min(max(y, 0), Float(height - 1))
        let x0 = min(Int(cx), width - 2 < 0 ? 0 : width - 2), y0 = min(Int(cy), height - 2 < 0 ? 0 : height - 2)
        let fx = cx - Float(x0), fy = cy - Float(y0)
        let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let top = b[y0 * width + x0] + (b[y0 * width + x1] - b[y0 * width + x0]) * fx
        let bottom = b[y1 * width + x0] + (b[y1 * width + x1] - b[y1 * width + x0]) * fx
        return top + (bottom - top) * fy
    }

    /// `sampleB` for the per-pixel loops: the same interpolation without range-checked
    /// conversions (a whole-number position may take the tap before it with a weight of 1).
    @inline(__always) func bilinearB(_ x: Float, _ y: Float) -> Float {
        let (x0, fx) = min(max(x, 0), Float(width - 1)).tapAndWeight
        let (y0, fy) = min(max(y, 0), Float(height - 1)).tapAndWeight
        let right = x0 < width - 1 ? 1 : 0, down = y0 < height - 1 ? width : 0
        let q = b + (y0 &* width &+ x0)
        let top = q[0] + (q[right] - q[0]) * fx
        let bottom = q[down] + (q[down + right] - q[down]) * fx
        return top + (bottom - top) * fy
    }

    /// Where the window moved by `v` lies in `b` when every bilinear tap is inside the picture
    /// and the window is a whole number of vectors wide: the whole-pixel shift and the fraction.
    struct Shift {
        var offset: Int
        var fx, fy: Float
    }

    @inline(__always) func shift(_ w: Window, _ v: SIMD2<Float>) -> Shift? {
        guard (w.x1 - w.x0) % 4 == 0, abs(v.x) < 1e6, abs(v.y) < 1e6 else { return nil }
        let floorX = v.x.rounded(.down), floorY = v.y.rounded(.down)
        let ix = Int(floorX), iy = Int(floorY)
        guard w.x0 + ix >= 0, w.x1 + ix < width, w.y0 + iy >= 0, w.y1 + iy < height else { return nil }
        return Shift(offset: iy * width + ix, fx: v.x - floorX, fy: v.y - floorY)
    }

    /// `a` minus `b` moved by `shift`, for the four pixels from `i` (an index into both planes).
    @inline(__always) func residual(_ i: Int, _ shift: Shift) -> SIMD4<Float> {
        let q = b + i + shift.offset
        let b00 = Self.load(q), b10 = Self.load(q + 1), b01 = Self.load(q + width), b11 = Self.load(q + width + 1)
        let top = b00 + (b10 - b00) * shift.fx
        let bottom = b01 + (b11 - b01) * shift.fx
        return Self.load(a + i) - (top + (bottom - top) * shift.fy)
    }

    /// Mean absolute difference with `b` sampled bilinearly at a sub-pixel offset. Like `cost`,
    /// stops early, returning infinity, once the difference so far exceeds `limit`.
    @inline(__always) func subpixelCost(_ w: Window, _ v: SIMD2<Float>, limit: Float = .infinity) -> Float {
        guard let shift = shift(w, v) else {
            var sum: Float = 0
            for y in w.y0..<w.y1 {
                for x in w.x0..<w.x1 {
                    sum += abs(a[y * width + x] - sampleB(Float(x) + v.x, Float(y) + v.y))
                }
            }
            return sum / Float(w.count)
        }
        var lanes = SIMD4<Float>.zero
        let count = Float(w.count)
        for y in w.y0..<w.y1 {
            for x in stride(from: w.x0, to: w.x1, by: 4) {
                lanes += Self.magnitude(residual(y * width + x, shift))
            }
            // The lanes only grow, so a partial mean above the limit means a full one above it.
            if (y - w.y0) & 3 == 3 && lanes.sum() / count > limit { return .infinity }
        }
        return lanes.sum() / count
    }

    /// Gauss-Newton (Lucas-Kanade) steps from an integer vector whose cost is `startCost`;
    /// keeps whichever of the start and the result matches better. Returns the vector and its
    /// cost. The window's gradients are computed once, for the Hessian and every step.
    func refine(_ w: Window, _ start: SIMD2<Float>, startCost: Float) -> (SIMD2<Float>, Float) {
        let columns = w.x1 - w.x0, count = w.count
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * count) { gradients in
            let gx = gradients.baseAddress!, gy = gx + count
            var hxx: Float = 0, hxy: Float = 0, hyy: Float = 0
            for y in w.y0..<w.y1 {
                for x in w.x0..<w.x1 {
                    let k = (y - w.y0) * columns + (x - w.x0)
                    gx[k] = 0.5 * (a[y * width + min(x + 1, width - 1)] - a[y * width + max(x - 1, 0)])
                    gy[k] = 0.5 * (a[min(y + 1, height - 1) * width + x] - a[max(y - 1, 0) * width + x])
                    hxx += gx[k] * gx[k]; hxy += gx[k] * gy[k]; hyy += gy[k] * gy[k]
                }
            }
            let determinant = hxx * hyy - hxy * hxy
            guard determinant > 1e-7 * Float(count * count) else { return (start, startCost) }
            var v = start
            for _ in 0..<3 {
                var ex: Float = 0, ey: Float = 0
                if let shift = shift(w, v) {
                    var sx = SIMD4<Float>.zero, sy = SIMD4<Float>.zero
                    for y in w.y0..<w.y1 {
                        for x in stride(from: w.x0, to: w.x1, by: 4) {
                            let e = residual(y * width + x, shift)
                            let k = (y - w.y0) * columns + (x - w.x0)
                            sx += Self.load(gx + k) * e
                            sy += Self.load(gy + k) * e
                        }
                    }
                    ex = sx.sum(); ey = sy.sum()
                } else {
                    for y in w.y0..<w.y1 {
                        for x in w.x0..<w.x1 {
                            let k = (y - w.y0) * columns + (x - w.x0)
                            let e = a[y * width + x] - sampleB(Float(x) + v.x, Float(y) + v.y)
                            ex += gx[k] * e; ey += gy[k] * e
                        }
                    }
                }
                var step = SIMD2<Float>((hyy * ex - hxy * ey) / determinant, (hxx * ey - hxy * ex) / determinant)
                step.clamp(lowerBound: SIMD2(repeating: -1), upperBound: SIMD2(repeating: 1))
                v += step
                if abs(step.x) + abs(step.y) < 0.01 { break }
            }
            if abs(v.x - start.x) > 1 || abs(v.y - start.y) > 1 { return (start, startCost) }
            let cost = subpixelCost(w, v, limit: startCost)
            return cost <= startCost ? (v, cost) : (start, startCost)
        }
    }
}
