/// The image formats Keyfarm tells apart by their first bytes, whatever a file's name says:
/// PNG and OpenEXR (keyframes), and JPEG (which providers also take).
public enum ImageSignature: String, Sendable, CaseIterable {
    case png, exr, jpeg

    /// The bytes a file of this format starts with.
    public var signature: [UInt8] {
        switch self {
        case .png: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        case .exr: [0x76, 0x2F, 0x31, 0x01]
        case .jpeg: [0xFF, 0xD8, 0xFF]
        }
    }

    public var mediaType: String {
        switch self {
        case .png: "image/png"
        case .exr: "image/x-exr"
        case .jpeg: "image/jpeg"
        }
    }

    /// The format `header` (at least a file's first 8 bytes, or all of a shorter file) starts with.
    public init?<Header: Collection>(header: Header) where Header.Element == UInt8 {
        guard let format = Self.allCases.first(where: { header.starts(with: $0.signature) }) else { return nil }
        self = format
    }
}
