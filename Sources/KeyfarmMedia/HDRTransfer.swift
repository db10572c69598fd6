import Foundation

/// How HDR frames become deliverables: a tone map to SDR for MP4 and ProRes, and the PQ curve
/// (SMPTE ST 2084) for HDR10.
///
/// Scene-linear 1.0 is diffuse white. The SDR tone map keeps everything up to 0.8 as it is
/// and rolls the rest off smoothly towards 1.0 (slope 1 at the knee, a Reinhard shoulder
/// that reaches 1.0 only at infinity), scaling the three channels of a pixel by the same factor, taken from its
/// largest one, so hues hold: highlights compress instead of clipping, and brighter stays
/// brighter. HDR10 puts diffuse white at 203 cd/m2 (ITU-R BT.2408) and codes up to the
/// mastering display's 1000 cd/m2 peak.
public enum HDRTransfer {
    /// Where the SDR tone map starts to compress.
    public static let knee: Float = 0.8
    /// Diffuse white in HDR10, in cd/m2.
    public static let referenceWhiteNits: Float = 203
    /// The mastering display's peak, in cd/m2: values above it are coded at it.
    public static let peakNits: Float = 1000

    /// The tone curve for one value: identity to the knee, then knee + (1 - knee) * t / (1 + t)
    /// with t = (x - knee) / (1 - knee).
    @inline(__always) public static func toneCurve(_ x: Float) -> Float {
        guard x > knee else { return x }
        let shoulder = 1 - knee
        let t = (x - knee) / shoulder
        return knee + shoulder * t / (1 + t)
    }

    /// PQ code values (16-bit) of `pqSteps + 1` luminances evenly spaced over 0...peak: PQ of
    /// every sample would be exact but slow, and this table is plenty. Made once, used by every frame.
    static let pqSteps = 4096
    static let pqTable: [UInt16] = (0...pqSteps).map { UInt16(pq(nits: Float($0) / Float(pqSteps) * peakNits) * 65535 + 0.5) }

    /// PQ (ST 2084) of a luminance in cd/m2, 0...1.
    @inline(__always) public static func pq(nits: Float) -> Float {
        let m1: Float = 2610 / 16384, m2: Float = 2523 / 4096 * 128
        let c1: Float = 3424 / 4096, c2: Float = 2413 / 4096 * 32, c3: Float = 2392 / 4096 * 32
        let y = Foundation.pow(min(max(nits, 0), 10000) / 10000, m1)
        return Foundation.pow((c1 + c2 * y) / (1 + c3 * y), m2)
    }
}

extension LinearImage {
    /// The picture tone-mapped into 0...1 for SDR (see `HDRTransfer`); negative values (out of
    /// the target gamut) become 0.
    public func toneMapped() -> LinearImage {
        var out = pixels
        let count = width * height
        out.withUnsafeMutableBufferPointer { p in
            for k in 0..<count {
                let r = max(p[k * 3], 0), g = max(p[k * 3 + 1], 0), b = max(p[k * 3 + 2], 0)
                let peak = max(r, g, b)
                let scale: Float = peak > HDRTransfer.knee ? HDRTransfer.toneCurve(peak) / peak : 1
                p[k * 3] = r * scale; p[k * 3 + 1] = g * scale; p[k * 3 + 2] = b * scale
            }
        }
        return LinearImage(width: width, height: height, pixels: out)
    }

    /// `(1 - weight) * a + weight * b`, unclamped. Both pictures have one size.
    public static func mix(_ a: LinearImage, _ b: LinearImage, weight: Float) -> LinearImage {
        precondition(a.width == b.width && a.height == b.height, "mixing pictures of different sizes")
        if weight <= 0 { return a }
        if weight >= 1 { return b }
        var out = a.pixels
        out.withUnsafeMutableBufferPointer { o in
            b.pixels.withUnsafeBufferPointer { q in
                for i in 0..<o.count { o[i] += (q[i] - o[i]) * weight }
            }
        }
        return LinearImage(width: a.width, height: a.height, pixels: out)
    }

    /// HDR10 code values: the picture (BT.2020 linear) with 1.0 at 203 cd/m2, PQ-coded and
    /// clipped at the peak, as 16-bit full-range RGB; and its largest and mean luminance in cd/m2
    /// (for MaxCLL and MaxFALL).
    public func hdr10Samples() -> (samples: [UInt16], maxNits: Float, meanNits: Float) {
        let count = width * height
        var samples = [UInt16](repeating: 0, count: count * 3)
        var largest: Float = 0
        var total: Double = 0
        let scale = HDRTransfer.referenceWhiteNits
        let steps = HDRTransfer.pqSteps, table = HDRTransfer.pqTable
        pixels.withUnsafeBufferPointer { p in
            for k in 0..<count {
                var brightest: Float = 0
                for c in 0..<3 {
                    let nits = min(max(p[k * 3 + c] * scale, 0), HDRTransfer.peakNits)
                    brightest = max(brightest, nits)
                    samples[k * 3 + c] = table[Int(nits / HDRTransfer.peakNits * Float(steps) + 0.5)]
                }
                largest = max(largest, brightest)
                total += Double(brightest)
            }
        }
        return (samples, largest, Float(total / Double(max(count, 1))))
    }
}
