/// A shot's output resolution class; Keyfarm renders at most 1080p. 360p is a draft tier
/// only (`draft: true`): a shot list cannot ask for it as its resolution.
public enum Resolution: String, Sendable, CaseIterable, Codable {
    case p360 = "360p"
    case p540 = "540p"
    case p720 = "720p"
    case p1080 = "1080p"

    /// The length of the picture's short side in pixels.
    public var shortSide: Int {
        switch self {
        case .p360: 360
        case .p540: 540
        case .p720: 720
        case .p1080: 1080
        }
    }
}

/// A shot's picture aspect ratio, as SHOTLIST.md lists them.
public enum Aspect: String, Sendable, CaseIterable, Codable {
    case widescreen = "16:9"
    case vertical = "9:16"
    case square = "1:1"
    case classic = "4:3"
    case classicPortrait = "3:4"
    case cinema = "21:9"
    case cinemaPortrait = "9:21"

    var ratio: (width: Int, height: Int) {
        let parts = rawValue.split(separator: ":").map { Int($0)! }
        return (parts[0], parts[1])
    }
}

/// The pixel size of a picture: the resolution fixes the short side, the aspect the long one,
/// rounded to an even number as video encoders require.
public struct PictureSize: Sendable, Hashable, Codable, CustomStringConvertible {
    public let width: Int
    public let height: Int

    public init(resolution: Resolution, aspect: Aspect) {
        let (w, h) = aspect.ratio
        let short = resolution.shortSide
        func even(_ value: Int) -> Int { value % 2 == 0 ? value : value + 1 }
        if w >= h {
            width = even((short * w + h / 2) / h)
            height = short
        } else {
            width = short
            height = even((short * h + w / 2) / w)
        }
    }

    public var description: String { "\(width)x\(height)" }
}

/// A deliverable the stitcher writes for a shot. `hdr10` is HEVC Main 10 with PQ and BT.2020
/// (an HDR shot only).
public enum OutputFormat: String, Sendable, CaseIterable, Codable {
    case mp4, prores, exr, hdr10
}

/// The primaries (and white point) an `exr` deliverable's scene-linear pixels are in.
public enum EXRColorspace: String, Sendable, CaseIterable, Codable {
    /// ACES2065-1: AP0 primaries, ACES white (what Luma's EXR export is).
    case aces2065 = "aces2065-1"
    /// ACEScg: AP1 primaries, ACES white.
    case acescg
    /// Linear Rec.709 / sRGB primaries, D65.
    case linRec709 = "lin_rec709"
}
