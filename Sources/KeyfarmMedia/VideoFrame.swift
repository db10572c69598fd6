import COpenEXR
import CPNG
import Foundation

/// One picture of a clip as the stitcher moves it: interleaved RGB, 16 bits a sample,
/// sRGB-encoded (the codes a 16-bit PNG holds and ffmpeg's `rgb48le` carries).
///
/// The stitcher never needs linear light for MP4 or ProRes, so frames stay in this form from
/// decoder to encoder; only the EXR writer converts them, through a table.
public struct VideoFrame: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` samples, row by row.
    public var samples: [UInt16]

    public init(width: Int, height: Int, samples: [UInt16]) {
        precondition(samples.count == width * height * 3, "a \(width)x\(height) frame has \(width * height * 3) samples")
        self.width = width
        self.height = height
        self.samples = samples
    }

    /// Bytes of one frame in `rgb48le`.
    public static func byteCount(width: Int, height: Int) -> Int { width * height * 6 }

    /// Decodes a PNG held in memory (8-bit samples widen to 16 bits exactly: 0xAB -> 0xABAB).
    public static func decodePNG(_ data: Data, path: String) throws -> VideoFrame {
        try withDecodedPNG(data, path: path) { image in
            let raw = image.pixels!
            let width = Int(image.width), height = Int(image.height), count = width * height * 3
            let samples: [UInt16]
            if image.depth == 16 {
                samples = Array(UnsafeBufferPointer(start: raw.assumingMemoryBound(to: UInt16.self), count: count))
            } else {
                let input = raw.assumingMemoryBound(to: UInt8.self)
                samples = [UInt16](unsafeUninitializedCapacity: count) { out, initialized in
                    for i in 0..<count { out[i] = UInt16(input[i]) &* 257 }
                    initialized = count
                }
            }
            return VideoFrame(width: width, height: height, samples: samples)
        }
    }

    /// The frame as a 16-bit sRGB PNG (zlib level 1: intermediates favour speed).
    public func pngData() throws -> Data {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var error = kf_png_error()
        let status = samples.withUnsafeBufferPointer { input in
            kf_png_encode(input.baseAddress, UInt32(width), UInt32(height), 16, 1, &out, &size, &error)
        }
        guard status == 0, let out else { throw ImageError(path: "PNG encoder", reason: message(of: &error.message)) }
        defer { free(out) }
        return Data(bytes: out, count: size)
    }

    /// The frame from a picture in linear light (the exact sRGB transfer function, rounded).
    public init(_ image: LinearImage) {
        let count = image.width * image.height * 3
        let samples = image.pixels.withUnsafeBufferPointer { input in
            [UInt16](unsafeUninitializedCapacity: count) { out, initialized in
                for i in 0..<count { out[i] = UInt16(SRGB.encode(input[i]) * 65535 + 0.5) }
                initialized = count
            }
        }
        self.init(width: image.width, height: image.height, samples: samples)
    }

    /// The frame in linear light.
    public var linear: LinearImage {
        let pixels = SRGB.decode16.withUnsafeBufferPointer { table in samples.map { table[Int($0)] } }
        return LinearImage(width: width, height: height, pixels: pixels)
    }

    /// `(1 - weight) * a + weight * b`, sample by sample, rounded. Both frames have one size.
    public static func mix(_ a: VideoFrame, _ b: VideoFrame, weight: Double) -> VideoFrame {
        precondition(a.width == b.width && a.height == b.height, "mixing frames of different sizes")
        if weight <= 0 { return a }
        if weight >= 1 { return b }
        let count = a.samples.count
        let w = UInt32((weight * 65536).rounded()), v = 65536 - w
        let mixed = a.samples.withUnsafeBufferPointer { x in
            b.samples.withUnsafeBufferPointer { y in
                [UInt16](unsafeUninitializedCapacity: count) { out, initialized in
                    let target = UncheckedSendable(out.baseAddress!)
                    parallelBands(count, minimumBand: 1 << 16) { band in
                        for i in band {
                            target.value[i] = UInt16((UInt32(x[i]) &* v &+ UInt32(y[i]) &* w &+ 32768) >> 16)
                        }
                    }
                    initialized = count
                }
            }
        }
        return VideoFrame(width: a.width, height: a.height, samples: mixed)
    }

    /// Half-float bit patterns of the 65536 16-bit codes in linear light, for EXR output.
    static let linearHalf: [UInt16] = SRGB.decode16.map { Float16($0).bitPattern }

    /// Writes the frame as a half-float, linear-light, ZIP-compressed EXR with Rec.709
    /// chromaticities (written to a temporary name and renamed over `path` when complete).
    public func writeEXR(path: String) throws {
        let count = samples.count
        let halves = Self.linearHalf.withUnsafeBufferPointer { table in
            samples.withUnsafeBufferPointer { input in
                [UInt16](unsafeUninitializedCapacity: count) { out, initialized in
                    for i in 0..<count { out[i] = table[Int(input[i])] }
                    initialized = count
                }
            }
        }
        var error = kf_exr_error()
        let status = halves.withUnsafeBufferPointer { buffer in
            kf_exr_write_rgb_half(path, Int32(width), Int32(height), buffer.baseAddress, &error)
        }
        guard status == 0 else {
            throw ImageError(path: path, reason: "cannot write EXR: \(message(of: &error.message))")
        }
    }
}

/// What an EXR file's header says, read without decoding its pixels.
public struct EXRHeader: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Channel names in file order, e.g. `["B", "G", "R"]`.
    public var channels: [String]
    /// True when every channel holds half floats.
    public var allHalf: Bool
    /// True when the file is ZIP-compressed (16 scanlines a block).
    public var zip: Bool
    /// Red, green, blue and white x and y, when the file has a chromaticities attribute.
    public var chromaticities: [Float]?

    /// Reads the header of the first part of `path`.
    public static func read(_ path: String) throws -> EXRHeader {
        var header = kf_exr_header()
        var error = kf_exr_error()
        guard kf_exr_read_header(path, &header, &error) == 0 else {
            throw ImageError(path: path, reason: "not a readable EXR: \(message(of: &error.message))")
        }
        let names = message(of: &header.names)
        let chromaticities = withUnsafeBytes(of: header.chromaticities) { Array($0.bindMemory(to: Float.self)) }
        return EXRHeader(width: Int(header.width), height: Int(header.height),
                         channels: names == "unknown error" ? [] : names.split(separator: ",").map(String.init),
                         allHalf: header.all_half != 0, zip: header.compression == Int32(EXR_COMPRESSION_ZIP.rawValue),
                         chromaticities: header.has_chromaticities != 0 ? chromaticities : nil)
    }
}
