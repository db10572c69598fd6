import CPNG
import Foundation

/// PNG in and out: 8- or 16-bit sRGB-encoded RGB, converted to and from linear light.
extension LinearImage {
    /// How hard zlib works when writing: intermediates favour speed, they are lossless either way.
    public enum PNGCompression: Sendable {
        /// The SUB filter and Huffman-coded literals, in bands on all cores: many times faster,
        /// files a little larger.
        case fast
        /// zlib level 6 and libpng's adaptive filter choice.
        case standard
    }

    /// Decodes a PNG held in memory; `path` only names the source in errors.
    public static func decodePNG(_ data: Data, path: String) throws -> LinearImage {
        try withDecodedPNG(data, path: path) { image in
            Self(decoded: image)
        }
    }

    /// The picture libpng decoded, in linear light through the sRGB tables, on all cores.
    private init(decoded image: kf_png_image) {
        let samples = image.pixels!
        let width = Int(image.width), height = Int(image.height)
        let pixels: [Float]
        if image.depth == 16 {
            let input = UncheckedSendable(UnsafePointer(samples.assumingMemoryBound(to: UInt16.self)))
            pixels = SRGB.decode16.withUnsafeBufferPointer { table in
                parallelRows(height, perRow: width * 3, minimumBand: 16) { rows, out in
                    for i in (rows.lowerBound * width * 3)..<(rows.upperBound * width * 3) { out[i] = table[Int(input.value[i])] }
                }
            }
        } else {
            let input = UncheckedSendable(UnsafePointer(samples.assumingMemoryBound(to: UInt8.self)))
            pixels = SRGB.decode8.withUnsafeBufferPointer { table in
                parallelRows(height, perRow: width * 3, minimumBand: 16) { rows, out in
                    for i in (rows.lowerBound * width * 3)..<(rows.upperBound * width * 3) { out[i] = table[Int(input.value[i])] }
                }
            }
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// Encodes the picture as an sRGB PNG of `bitDepth` 8 or 16. `precise` converts every
    /// sample exactly as the sRGB transfer function does (a decoded PNG then encodes back to the
    /// very same codes); otherwise a table within a tenth of a 16-bit step is used.
    public func pngData(bitDepth: Int = 16, compression: PNGCompression = .fast, precise: Bool = true) throws -> Data {
        precondition(bitDepth == 8 || bitDepth == 16, "PNG bit depth is 8 or 16")
        let width = self.width
        // 8-bit samples always take the exact curve: the table's error is a few thousandths of
        // an 8-bit step, so the check almost never falls back to it.
        let exact = precise || bitDepth == 8
        if compression == .fast {
            return pixels.withUnsafeBufferPointer { input in
                let base = input.baseAddress!
                return PNGEncoder(width: width, height: height, bitDepth: bitDepth, exact: exact)
                    .encode { rows, _ in base + rows.lowerBound * width * 3 }
            }
        }
        let count = width * height * 3
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var error = kf_png_error()
        let status: Int32 = pixels.withUnsafeBufferPointer { input in
            SRGB.codeTable.withUnsafeBufferPointer { table in
                if bitDepth == 16 {
                    var samples = [UInt16](repeating: 0, count: count)
                    samples.withUnsafeMutableBufferPointer { encoded in
                        for i in 0..<count {
                            encoded[i] = UInt16(SRGB.code(input[i], maximum: 65535, exact: exact, table: table.baseAddress!))
                        }
                    }
                    return kf_png_encode(samples, UInt32(width), UInt32(height), 16, 6, &out, &size, &error)
                } else {
                    var samples = [UInt8](repeating: 0, count: count)
                    samples.withUnsafeMutableBufferPointer { encoded in
                        for i in 0..<count {
                            encoded[i] = UInt8(SRGB.code(input[i], maximum: 255, exact: exact, table: table.baseAddress!))
                        }
                    }
                    return kf_png_encode(samples, UInt32(width), UInt32(height), 8, 6, &out, &size, &error)
                }
            }
        }
        guard status == 0, let out else {
            throw ImageError(path: "PNG encoder", reason: message(of: &error.message))
        }
        defer { free(out) }
        return Data(bytes: out, count: size)
    }
}

/// Decodes a PNG held in memory with libpng (RGB samples, 8 or 16 bits) and hands the result
/// to `body` before freeing it; `path` only names the source in errors.
func withDecodedPNG<T>(_ data: Data, path: String, _ body: (kf_png_image) throws -> T) throws -> T {
    var image = kf_png_image()
    var error = kf_png_error()
    let status = data.withUnsafeBytes { bytes in
        kf_png_decode(bytes.baseAddress, bytes.count, UInt32(ImageLimits.maxSide),
                      UInt64(ImageLimits.maxPixels), &image, &error)
    }
    guard status == 0, let samples = image.pixels else {
        throw ImageError(path: path, reason: "not a readable PNG: \(message(of: &error.message))")
    }
    defer { free(samples) }
    return try body(image)
}

/// A C message buffer as a Swift string.
func message<T>(of buffer: inout T) -> String {
    withUnsafeBytes(of: &buffer) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        let text = String(decoding: bytes[..<end], as: UTF8.self)
        return text.isEmpty ? "unknown error" : text
    }
}
