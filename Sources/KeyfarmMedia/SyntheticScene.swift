import Foundation
import KeyfarmCore

/// A moving picture with known ground truth, for the interpolation benchmark and tests:
/// textured rectangles gliding in straight lines over a textured background that pans.
/// Every frame samples one continuous scene, so any moment between keyframes has an exact
/// answer to compare an in-between against.
public struct SyntheticScene: Sendable {
    /// A textured rectangle moving at constant speed; later objects are in front.
    public struct Object: Sendable {
        public var origin: SIMD2<Double>
        public var size: SIMD2<Double>
        /// Displacement over the whole sequence (time 0 to 1), in pixels.
        public var motion: SIMD2<Double>
        var texture: Texture

        public init(origin: SIMD2<Double>, size: SIMD2<Double>, motion: SIMD2<Double>, seed: UInt64) {
            self.origin = origin
            self.size = size
            self.motion = motion
            texture = Texture(width: Int(size.x) + 2, height: Int(size.y) + 2, seed: seed, cell: 12)
        }
    }

    public let width: Int
    public let height: Int
    /// Background displacement over the whole sequence, in pixels.
    public var pan: SIMD2<Double>
    public var objects: [Object]
    let background: Texture

    public init(width: Int, height: Int, pan: SIMD2<Double>, objects: [Object], seed: UInt64) {
        self.width = width
        self.height = height
        self.pan = pan
        self.objects = objects
        background = Texture(width: width + Int(abs(pan.x)) + 8, height: height + Int(abs(pan.y)) + 8, seed: seed, cell: 24)
    }

    /// The scene at `time` in 0...1.
    public func render(at time: Double) -> LinearImage {
        let out = SharedBuffer<Float>(count: width * height * 3, repeating: 0)
        let bx = (pan.x < 0 ? -pan.x : 0) + 4 + pan.x * time, by = (pan.y < 0 ? -pan.y : 0) + 4 + pan.y * time
        let placed = objects.map { ($0, $0.origin + $0.motion * time) }
        parallelBands(height, minimumBand: 4) { band in
            for y in band {
                for x in 0..<width {
                    let px = Double(x), py = Double(y)
                    var colour = background.sample(px + bx, py + by)
                    for (object, corner) in placed {
                        // Coverage of the pixel by the rectangle, with a one-pixel soft edge.
                        let cx = min(max(min(px - corner.x, corner.x + object.size.x - px) + 0.5, 0), 1)
                        let cy = min(max(min(py - corner.y, corner.y + object.size.y - py) + 0.5, 0), 1)
                        let coverage = Float(cx * cy)
                        if coverage > 0 {
                            let inside = object.texture.sample(px - corner.x + 1, py - corner.y + 1)
                            colour += (inside - colour) * coverage
                        }
                    }
                    let o = (y * width + x) * 3
                    out[o] = colour.x; out[o + 1] = colour.y; out[o + 2] = colour.z
                }
            }
        }
        return LinearImage(width: width, height: height, pixels: out.array)
    }

    /// Value noise in several octaves mapped through a random three-colour palette, sampled
    /// bilinearly so that the picture is continuous at sub-pixel positions.
    struct Texture: Sendable {
        let width: Int
        let height: Int
        let pixels: [SIMD3<Float>]

        init(width: Int, height: Int, seed: UInt64, cell: Int) {
            self.width = width
            self.height = height
            var generator = SeededGenerator(seed: seed)
            let palette = (0..<3).map { _ in
                SIMD3<Float>(Float.random(in: 0.02...0.9, using: &generator), Float.random(in: 0.02...0.9, using: &generator),
                             Float.random(in: 0.02...0.9, using: &generator))
            }
            var octaves: [(cell: Int, amplitude: Float, lattice: [Float], columns: Int)] = []
            for (k, amplitude) in [Float(0.45), 0.3, 0.15, 0.1].enumerated() {
                let size = max(cell >> k, 2)
                let columns = width / size + 2, rows = height / size + 2
                octaves.append((size, amplitude, (0..<(columns * rows)).map { _ in Float.random(in: 0...1, using: &generator) }, columns))
            }
            var pixels = [SIMD3<Float>](repeating: .zero, count: width * height)
            for y in 0..<height {
                for x in 0..<width {
                    var n: Float = 0, m: Float = 0
                    for (index, octave) in octaves.enumerated() {
                        let gx = Float(x) / Float(octave.cell), gy = Float(y) / Float(octave.cell)
                        let ix = Int(gx), iy = Int(gy)
                        let fx = gx - Float(ix), fy = gy - Float(iy)
                        let l = octave.lattice, c = octave.columns
                        let top = l[iy * c + ix] + (l[iy * c + ix + 1] - l[iy * c + ix]) * fx
                        let bottom = l[(iy + 1) * c + ix] + (l[(iy + 1) * c + ix + 1] - l[(iy + 1) * c + ix]) * fx
                        let value = top + (bottom - top) * fy
                        if index % 2 == 0 { n += octave.amplitude * value } else { m += octave.amplitude * value }
                    }
                    let u = min(max(n / 0.6, 0), 1), v = min(max(m / 0.4, 0), 1)
                    pixels[y * width + x] = palette[0] + (palette[1] - palette[0]) * u + (palette[2] - palette[0]) * (v * 0.7)
                }
            }
            self.pixels = pixels.map { pointwiseMin(pointwiseMax($0, SIMD3(repeating: 0.005)), SIMD3(repeating: 1)) }
        }

        @inline(__always) func sample(_ x: Double, _ y: Double) -> SIMD3<Float> {
            let cx = min(max(x, 0), Double(width - 1)), cy = min(max(y, 0), Double(height - 1))
            let x0 = min(Int(cx), width - 2), y0 = min(Int(cy), height - 2)
            let fx = Float(cx - Double(x0)), fy = Float(cy - Double(y0))
            let p00 = pixels[y0 * width + x0], p10 = pixels[y0 * width + x0 + 1]
            let p01 = pixels[(y0 + 1) * width + x0], p11 = pixels[(y0 + 1) * width + x0 + 1]
            let top = p00 + (p10 - p00) * fx, bottom = p01 + (p11 - p01) * fx
            return top + (bottom - top) * fy
        }
    }
}

/// Picture quality measures.
public enum ImageQuality {
    /// Peak signal-to-noise ratio in dB of two same-sized pictures, compared as sRGB-encoded
    /// values in 0...1 (how a viewer and ffmpeg's psnr filter see them); 100 when identical.
    public static func psnr(_ a: LinearImage, _ b: LinearImage) -> Double {
        precondition(a.width == b.width && a.height == b.height, "PSNR needs pictures of one size")
        let count = a.pixels.count
        let sums = SharedBuffer<Double>(count: 64, repeating: 0)
        a.pixels.withUnsafeBufferPointer { pa in
            b.pixels.withUnsafeBufferPointer { pb in
                SRGB.encodeTable.withUnsafeBufferPointer { table in
                    let bands = 64
                    parallelBands(bands, minimumBand: 1) { range in
                        for band in range {
                            var sum = 0.0
                            for i in (count * band / bands)..<(count * (band + 1) / bands) {
                                let d = SRGB.fastEncode(pa[i], table: table.baseAddress!) - SRGB.fastEncode(pb[i], table: table.baseAddress!)
                                sum += Double(d * d)
                            }
                            sums[band] = sum
                        }
                    }
                }
            }
        }
        let mse = sums.array.reduce(0, +) / Double(count)
        return mse <= 1e-10 ? 100 : 10 * log10(1 / mse)
    }
}
