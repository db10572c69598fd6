import CEXRCodec
import Foundation

/// EXR frames in any compression (DWAB included), tiled or multi-part, through OpenEXR's C++
/// library: what a provider's HDR export is read with, and what HDR deliverables are written with.
public enum EXRCodec {
    /// A file's facts: parts, size, compression, channels' type, primaries.
    public struct Info: Sendable, Equatable {
        public var parts: Int
        public var width: Int
        public var height: Int
        public var allHalf: Bool
        public var compression: String
        /// Red x y, green x y, blue x y, white x y; nil when the file names none.
        public var chromaticities: [Float]?
        /// The largest R, G or B sample (after a read; 0 from `info`).
        public var maxValue: Float
    }

    /// A frame read from a file: linear RGB, in the file's own primaries.
    public struct Frame: Sendable {
        public var image: LinearImage
        public var info: Info
    }

    static func info(_ raw: kfx_info) -> Info {
        var raw = raw
        let compression = withUnsafeBytes(of: &raw.compression) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let chromaticities = withUnsafeBytes(of: &raw.chromaticities) { Array($0.bindMemory(to: Float.self)) }
        return Info(parts: Int(raw.parts), width: Int(raw.width), height: Int(raw.height), allHalf: raw.half != 0,
                    compression: compression, chromaticities: raw.has_chromaticities != 0 ? chromaticities : nil,
                    maxValue: raw.max_value)
    }

    static func message(_ error: inout kfx_error) -> String {
        withUnsafeBytes(of: &error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The header facts of part `part`.
    public static func info(path: String, part: Int = 0) throws -> Info {
        var raw = kfx_info()
        var error = kfx_error()
        guard kfx_info_of(path, Int32(part), &raw, &error) == 0 else {
            throw ImageError(path: path, reason: "not a readable EXR: \(message(&error))")
        }
        return info(raw)
    }

    /// Reads part `part` as linear RGB, never clamped (NaN becomes 0, infinities the largest half).
    public static func read(path: String, part: Int = 0) throws -> Frame {
        var raw = kfx_info()
        var error = kfx_error()
        var pixels: UnsafeMutablePointer<Float>?
        guard kfx_read_rgb(path, Int32(part), Int32(ImageLimits.maxSide), UInt64(ImageLimits.maxPixels), &pixels, &raw, &error) == 0,
              let pixels else {
            throw ImageError(path: path, reason: "not a readable EXR: \(message(&error))")
        }
        defer { free(pixels) }
        let samples = LinearImage.finiteSamples(pixels, count: Int(raw.width) * Int(raw.height) * 3)
        return Frame(image: LinearImage(width: Int(raw.width), height: Int(raw.height), pixels: samples), info: info(raw))
    }

    /// Writes half-float RGB with `compression` and the primaries' chromaticities.
    public static func write(_ image: LinearImage, path: String, compression: String = "zip", primaries: Primaries?) throws {
        let halves = image.halfBitPatterns
        var error = kfx_error()
        let status = halves.withUnsafeBufferPointer { buffer in
            if let chromaticities = primaries?.chromaticities {
                return chromaticities.withUnsafeBufferPointer { chroma in
                    kfx_write_rgb_half(path, Int32(image.width), Int32(image.height), buffer.baseAddress, compression,
                                       chroma.baseAddress, &error)
                }
            }
            return kfx_write_rgb_half(path, Int32(image.width), Int32(image.height), buffer.baseAddress, compression, nil, &error)
        }
        guard status == 0 else { throw ImageError(path: path, reason: "cannot write EXR: \(message(&error))") }
    }
}
