import KeyfarmCore

/// RGB primaries with their white point, and the 3x3 matrices between them: how scene-linear
/// pixels move from one gamut to another (ACES2065-1 to ACEScg or linear Rec.709, anything to
/// BT.2020 for HDR10). Matrices go through CIE XYZ with a Bradford adaptation between white
/// points, as the ACES and ICC recommendations do; values out of the target gamut stay (they
/// become negative or exceed 1.0), nothing is clipped.
public enum Primaries: String, Sendable, CaseIterable, Equatable {
    /// ACES2065-1 (AP0), ACES white point.
    case ap0
    /// ACEScg (AP1), ACES white point.
    case ap1
    /// Rec.709 / sRGB, D65.
    case rec709
    /// BT.2020 / BT.2100, D65.
    case rec2020

    /// Red x y, green x y, blue x y, white x y, as EXR's `chromaticities` attribute holds them.
    public var chromaticities: [Float] {
        switch self {
        case .ap0: [0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.0770, 0.32168, 0.33767]
        case .ap1: [0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767]
        case .rec709: [0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290]
        case .rec2020: [0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290]
        }
    }

    /// The primaries an EXR's chromaticities name (within 0.001 on every coordinate), or nil.
    public init?(chromaticities: [Float]) {
        guard chromaticities.count == 8,
              let match = Primaries.allCases.first(where: { candidate in
                  zip(candidate.chromaticities, chromaticities).allSatisfy { abs($0 - $1) < 0.001 }
              }) else { return nil }
        self = match
    }

    /// The primaries an EXR colour space names.
    public init(_ colorspace: EXRColorspace) {
        switch colorspace {
        case .aces2065: self = .ap0
        case .acescg: self = .ap1
        case .linRec709: self = .rec709
        }
    }

    /// The row-major 3x3 matrix that takes linear RGB in these primaries to `target`.
    public func matrix(to target: Primaries) -> [Double] {
        if self == target { return [1, 0, 0, 0, 1, 0, 0, 0, 1] }
        let toXYZ = Self.rgbToXYZ(chromaticities.map(Double.init))
        let fromXYZ = Self.inverse(Self.rgbToXYZ(target.chromaticities.map(Double.init)))
        let adapt = Self.bradford(from: white, to: target.white)
        return Self.multiply(fromXYZ, Self.multiply(adapt, toXYZ))
    }

    var white: (x: Double, y: Double) { (Double(chromaticities[6]), Double(chromaticities[7])) }

    static func xyz(_ x: Double, _ y: Double) -> [Double] { [x / y, 1, (1 - x - y) / y] }

    /// The normalized primary matrix (SMPTE RP 177): white maps to Y = 1.
    static func rgbToXYZ(_ c: [Double]) -> [Double] {
        let r = xyz(c[0], c[1]), g = xyz(c[2], c[3]), b = xyz(c[4], c[5]), w = xyz(c[6], c[7])
        let primaries = [r[0], g[0], b[0], r[1], g[1], b[1], r[2], g[2], b[2]]
        let s = apply(inverse(primaries), w)
        return [r[0] * s[0], g[0] * s[1], b[0] * s[2], r[1] * s[0], g[1] * s[1], b[1] * s[2], r[2] * s[0], g[2] * s[1], b[2] * s[2]]
    }

    static func bradford(from source: (x: Double, y: Double), to target: (x: Double, y: Double)) -> [Double] {
        if abs(source.x - target.x) < 1e-9 && abs(source.y - target.y) < 1e-9 { return [1, 0, 0, 0, 1, 0, 0, 0, 1] }
        let m = [0.8951, 0.2664, -0.1614, -0.7502, 1.7135, 0.0367, 0.0389, -0.0685, 1.0296]
        let s = apply(m, xyz(source.x, source.y)), d = apply(m, xyz(target.x, target.y))
        let scale = [d[0] / s[0], 0, 0, 0, d[1] / s[1], 0, 0, 0, d[2] / s[2]]
        return multiply(inverse(m), multiply(scale, m))
    }

    static func multiply(_ a: [Double], _ b: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: 9)
        for i in 0..<3 { for j in 0..<3 { out[i * 3 + j] = (0..<3).reduce(0) { $0 + a[i * 3 + $1] * b[$1 * 3 + j] } } }
        return out
    }

    static func apply(_ m: [Double], _ v: [Double]) -> [Double] {
        (0..<3).map { i in m[i * 3] * v[0] + m[i * 3 + 1] * v[1] + m[i * 3 + 2] * v[2] }
    }

    static func inverse(_ m: [Double]) -> [Double] {
        let a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], i = m[8]
        let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
        return [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
                (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
                (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det]
    }
}

extension LinearImage {
    /// The picture with every pixel taken through `matrix` (row-major 3x3), unclamped.
    public func converted(_ matrix: [Double]) -> LinearImage {
        if matrix == [1, 0, 0, 0, 1, 0, 0, 0, 1] { return self }
        let m = matrix.map(Float.init)
        var out = pixels
        let count = width * height
        out.withUnsafeMutableBufferPointer { o in
            pixels.withUnsafeBufferPointer { p in
                for k in 0..<count {
                    let r = p[k * 3], g = p[k * 3 + 1], b = p[k * 3 + 2]
                    o[k * 3] = m[0] * r + m[1] * g + m[2] * b
                    o[k * 3 + 1] = m[3] * r + m[4] * g + m[5] * b
                    o[k * 3 + 2] = m[6] * r + m[7] * g + m[8] * b
                }
            }
        }
        return LinearImage(width: width, height: height, pixels: out)
    }
}

extension LinearImage {
    /// The region (normalized x0, y0, x1, y1) of the picture, at least one pixel.
    public func cropped(to region: [Double]) -> LinearImage {
        let x0 = min(max(Int((region[0] * Double(width)).rounded()), 0), width - 1)
        let y0 = min(max(Int((region[1] * Double(height)).rounded()), 0), height - 1)
        let x1 = min(max(Int((region[2] * Double(width)).rounded()), x0 + 1), width)
        let y1 = min(max(Int((region[3] * Double(height)).rounded()), y0 + 1), height)
        var out = [Float]()
        out.reserveCapacity((x1 - x0) * (y1 - y0) * 3)
        for y in y0..<y1 { out.append(contentsOf: pixels[((y * width + x0) * 3)..<((y * width + x1) * 3)]) }
        return LinearImage(width: x1 - x0, height: y1 - y0, pixels: out)
    }
}
