import COpenEXR
import Foundation

/// OpenEXR in and out through the OpenEXR core C library: scanline files with R, G, B (or Y)
/// channels of half, float or uint samples are read; half-float RGB with ZIP is written.
extension LinearImage {
    /// Reads the first part of an EXR file. Its values are linear light already.
    public static func readEXR(path: String) throws -> LinearImage {
        var image = kf_exr_image()
        var error = kf_exr_error()
        let status = kf_exr_read_rgb(path, Int32(ImageLimits.maxSide), UInt64(ImageLimits.maxPixels), &image, &error)
        guard status == 0, let samples = image.pixels else {
            throw ImageError(path: path, reason: "not a readable EXR: \(message(of: &error.message))")
        }
        defer { free(samples) }
        return LinearImage(width: Int(image.width), height: Int(image.height),
                           pixels: finiteSamples(samples, count: Int(image.width) * Int(image.height) * 3))
    }

    /// The samples as half floats (binary16 bit patterns), held to the largest finite half.
    var halfBitPatterns: [UInt16] { pixels.map { Float16(min(max($0, -65504), 65504)).bitPattern } }

    /// Samples an EXR reader returned, copied: a NaN or infinity would poison every filter
    /// downstream, so they become black and the largest half.
    static func finiteSamples(_ samples: UnsafePointer<Float>, count: Int) -> [Float] {
        var pixels = Array(UnsafeBufferPointer(start: samples, count: count))
        for i in 0..<count where !pixels[i].isFinite {
            pixels[i] = pixels[i].isNaN ? 0 : (pixels[i] > 0 ? 65504 : -65504)
        }
        return pixels
    }

    /// Writes the picture as half-float RGB with ZIP compression; OpenEXR writes a temporary
    /// file and renames it over `path` only when it is complete.
    public func writeEXR(path: String) throws {
        let halves = halfBitPatterns
        var error = kf_exr_error()
        let status = halves.withUnsafeBufferPointer { buffer in
            kf_exr_write_rgb_half(path, Int32(width), Int32(height), buffer.baseAddress, &error)
        }
        guard status == 0 else {
            throw ImageError(path: path, reason: "cannot write EXR: \(message(of: &error.message))")
        }
    }
}
