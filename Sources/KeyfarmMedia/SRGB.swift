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
        let index = Int(position)
        let fraction = position - Float(index)
        return table[index] + (table[index + 1] - table[index]) * fraction
    }

    /// The integer code of linear light at `maximum` (65535 or 255), rounded to nearest, from
    /// the table. With `exact` it is the code `encode` gives, bit for bit: the table is within
    /// 0.06 of a 16-bit step everywhere (checked over every float in 0...1), so only values
    /// within a tenth of a step of a rounding boundary need the exact curve, and a picture
    /// decoded from PNG codes has none.
    @inline(__always)
    static func code(_ linear: Float, maximum: Float, exact: Bool, table: UnsafePointer<Float>) -> Int {
        let scaled = fastEncode(linear, table: table) * maximum + 0.5
        let code = Int(scaled)
        if exact {
            let fraction = scaled - Float(code)
            if fraction < 0.1 || fraction > 0.9 { return Int(encode(linear) * maximum + 0.5) }
        }
        return code
    }
}
