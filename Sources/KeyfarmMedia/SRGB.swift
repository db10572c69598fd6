import Foundation

/// The sRGB transfer function (IEC 61966-2-1) both ways, exact and table-driven.
///
/// Decoding 8- and 16-bit samples goes through tables built once. Encoding uses a table over
/// the square root of the linear value with linear interpolation between entries: within
/// about 0.1 of a 16-bit step over [0, 1], and an order of magnitude cheaper than `pow`.
public enum SRGB {
    /// sRGB-encoded value (0...1) to linear light.
    @inlinable public static func decode(_ encoded: Float) -> Float {
        encoded <= 0.04045 ? encoded / 12.92 : powf((encoded + 0.055) / 1.055, 2.4)
    }

    /// Linear light to the sRGB-encoded value, clamped to 0...1.
    @inlinable public static func encode(_ linear: Float) -> Float {
        let l = min(max(linear, 0), 1)
        return l <= 0.0031308 ? l * 12.92 : 1.055 * powf(l, 1 / 2.4) - 0.055
    }

    /// Linear values of the 256 8-bit codes.
    public static let decode8: [Float] = (0..<256).map { decode(Float($0) / 255) }
    /// Linear values of the 65536 16-bit codes.
    public static let decode16: [Float] = (0..<65536).map { decode(Float($0) / 65535) }

    static let tableSize = 4096
    /// sRGB-encoded values at linear = (i / tableSize)^2, for `fastEncode`.
    static let encodeTable: [Float] = (0...tableSize + 1).map { i in
        let u = min(Float(i) / Float(tableSize), 1)
        return encode(u * u)
    }

    /// Encodes linear light with the square-root table; for the bulk of pixels.
    @inline(__always)
    static func fastEncode(_ linear: Float, table: UnsafePointer<Float>) -> Float {
        let l = min(max(linear, 0), 1)
        let position = l.squareRoot() * Float(tableSize)
        // Rounding position - 0.5 gives its floor, or at a whole number the entry below with
        // a fraction of 1, which interpolates to the same value.
        let index = (position - 0.5).nearestInteger
        let fraction = position - Float(index)
        return table[index] + (table[index + 1] - table[index]) * fraction
    }

    /// 16-bit codes (unrounded) of linear light, for `code`: for each of 256 steps per octave
    /// from 2^-24 to 1, the value at the step's start and the slope over it, indexed by a
    /// float's exponent and first eight mantissa bits. Interpolating within a step is within
    /// 0.05 of a 16-bit step of `encode`, and costs neither a square root nor a power.
    static let codeTable: [SIMD2<Float>] = (0...(24 * 256)).map { i in
        func exact(_ l: Double) -> Double { l <= 0.0031308 ? l * 12.92 : 1.055 * pow(l, 1 / 2.4) - 0.055 }
        let bits = UInt32(codeTableFirstExponent * 256 + i) << 15
        let start = Double(Float(bitPattern: bits)), end = min(Double(Float(bitPattern: bits + 0x8000)), 1)
        let e0 = exact(start) * 65535, e1 = exact(end) * 65535
        return SIMD2(Float(e0), Float((e1 - e0) / 32768))
    }
    /// The biased exponent of 2^-24, the first octave in `codeTable` (anything darker is code 0).
    static let codeTableFirstExponent = 103

    /// The integer code of linear light at `maximum` (65535 or 255), rounded to nearest, from
    /// `codeTable`, and whether it lies within a tenth of a step of a rounding boundary: only
    /// there may it differ from the code `encode` gives (checked over every float in 0...1).
    @inline(__always)
    static func tableCode(_ linear: Float, maximum: Float, table: UnsafePointer<SIMD2<Float>>) -> (code: Int, doubtful: Bool) {
        let bits = min(max(linear, 5.9604645e-08), 1).bitPattern
        let entry = table[Int(bits >> 15) &- codeTableFirstExponent << 8]
        let scaled = (entry.x + entry.y * Float(bits & 0x7fff)) * (maximum / 65535)
        let code = scaled.nearestInteger
        return (code, abs(scaled - Float(code)) > 0.4)
    }

    /// `tableCode` for four samples at once: their codes, and which are doubtful.
    @inline(__always)
    static func tableCodes(_ linear: SIMD4<Float>, maximum: Float,
                           table: UnsafePointer<SIMD2<Float>>) -> (codes: SIMD4<Int32>, doubtful: SIMDMask<SIMD4<Int32>>) {
        let clamped = pointwiseMin(pointwiseMax(linear, SIMD4(repeating: 5.9604645e-08)), SIMD4(repeating: 1))
        let bits = unsafeBitCast(clamped, to: SIMD4<Int32>.self)
        let entries = bits &>> 15 &- Int32(codeTableFirstExponent << 8)
        let e0 = table[Int(entries[0])], e1 = table[Int(entries[1])], e2 = table[Int(entries[2])], e3 = table[Int(entries[3])]
        let start = SIMD4(e0.x, e1.x, e2.x, e3.x), slope = SIMD4(e0.y, e1.y, e2.y, e3.y)
        // The low mantissa bits as a float, by placing them in the mantissa of 2^23 (the
        // stdlib's lane-wise conversion compiles to scalar code).
        let fraction = unsafeBitCast(bits & 0x7fff | 0x4B00_0000, to: SIMD4<Float>.self) - 8_388_608
        let scaled = (start + slope * fraction) * (maximum / 65535)
        let biased = scaled + Float.roundingBias
        let codes = unsafeBitCast(biased, to: SIMD4<Int32>.self) &- 0x4B40_0000
        // |miss| by clearing the sign bit: `pointwiseMax` compiles to scalar code.
        let miss = unsafeBitCast(scaled - (biased - Float.roundingBias), to: SIMD4<Int32>.self) & 0x7fff_ffff
        return (codes, unsafeBitCast(miss, to: SIMD4<Float>.self) .> 0.4)
    }

    /// `tableCode`, and with `exact` the code `encode` gives, bit for bit, where the table's is
    /// doubtful. A picture decoded from PNG codes has no doubtful samples.
    @inline(__always)
    static func code(_ linear: Float, maximum: Float, exact: Bool, table: UnsafePointer<SIMD2<Float>>) -> Int {
        let (code, doubtful) = tableCode(linear, maximum: maximum, table: table)
        return exact && doubtful ? Int(encode(linear) * maximum + 0.5) : code
    }
}
