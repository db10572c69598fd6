/// A picture as the media pipeline works on it: linear-light RGB floats, interleaved, row by
/// row from the top-left (sRGB/Rec.709 primaries, 1.0 = diffuse white).
public struct LinearImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` samples: R, G, B of the first pixel, then the next.
    public var pixels: [Float]

    /// A picture filled with one colour (black by default).
    public init(width: Int, height: Int, fill: SIMD3<Float> = .zero) {
        precondition(width > 0 && height > 0, "an image has at least one pixel")
        self.width = width
        self.height = height
        var pixels = [Float](repeating: 0, count: width * height * 3)
        if fill != .zero {
            for i in 0..<(width * height) {
                pixels[i * 3] = fill.x; pixels[i * 3 + 1] = fill.y; pixels[i * 3 + 2] = fill.z
            }
        }
        self.pixels = pixels
    }

    /// Wraps samples already laid out as `width * height * 3` interleaved RGB floats.
    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3,
                     "\(pixels.count) samples do not make a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public subscript(x: Int, y: Int) -> SIMD3<Float> {
        get {
            let i = (y * width + x) * 3
            return SIMD3(pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            let i = (y * width + x) * 3
            pixels[i] = newValue.x; pixels[i + 1] = newValue.y; pixels[i + 2] = newValue.z
        }
    }
}

/// Why an image could not be read, written or conformed; the message names the file.
public struct ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// The bounds every decoder enforces before it allocates pixels, so a hostile or broken
/// header cannot ask for an unbounded amount of memory.
public enum ImageLimits {
    /// The longest side accepted, in pixels.
    public static let maxSide = 16_384
    /// The most pixels accepted in one image (a 16384 x 8192 picture).
    public static let maxPixels = 16_384 * 8_192
    /// The largest file read into memory, in bytes.
    public static let maxFileBytes = 1 << 30
}
