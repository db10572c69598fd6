import Foundation
import KeyfarmCore

/// Keyframe images sent inside a request instead of by URL: Luma Agents' base64 `data` with a
/// `media_type`, and WaveSpeed's `data:` URIs. Only PNG and JPEG are taken, and the bytes must
/// really be what they claim, as the providers check before accepting a generation.
enum InlineImage {
    /// The most a decoded image may weigh: 10 MB.
    static let maxBytes = 10 * 1024 * 1024

    enum MediaType: String, Sendable, CaseIterable {
        case png = "image/png"
        case jpeg = "image/jpeg"

        /// The type the bytes' signature says they are, if either.
        init?(sniffing bytes: Data) {
            switch ImageSignature(header: bytes) {
            case .png?: self = .png
            case .jpeg?: self = .jpeg
            case .exr?, nil: return nil
            }
        }

        var name: String { self == .png ? "PNG" : "JPEG" }
    }

    /// Decodes base64 that must hold an image of `mediaType`; the error is a sentence for the client.
    static func decode(base64: String, as mediaType: MediaType) -> Result<Data, Rejection> {
        // Refuse an oversized payload before decoding it: 4 characters carry 3 bytes.
        guard base64.utf8.count <= (maxBytes + 2) / 3 * 4 else { return .failure(.tooLarge) }
        guard let bytes = Data(base64Encoded: base64) else { return .failure(.notBase64) }
        guard !bytes.isEmpty else { return .failure(.empty) }
        guard bytes.count <= maxBytes else { return .failure(.tooLarge) }
        guard MediaType(sniffing: bytes) == mediaType else { return .failure(.notA(mediaType)) }
        return .success(bytes)
    }

    /// Decodes `data:image/png;base64,...` or `data:image/jpeg;base64,...`; nil when `text` is no data URI at all.
    static func decode(dataURI text: String) -> Result<Data, Rejection>? {
        guard text.prefix(5).lowercased() == "data:" else { return nil }
        guard let comma = text.firstIndex(of: ",") else { return .failure(.badDataURI) }
        let header = text[text.index(text.startIndex, offsetBy: 5)..<comma].lowercased()
        let parameters = header.split(separator: ";").map(String.init)
        guard parameters.count == 2, parameters[1] == "base64" else { return .failure(.badDataURI) }
        guard let mediaType = MediaType(rawValue: parameters[0]) else { return .failure(.unsupportedType(parameters[0])) }
        return decode(base64: String(text[text.index(after: comma)...]), as: mediaType)
    }

    /// Why inline image data was refused.
    enum Rejection: Error, Equatable, CustomStringConvertible {
        case notBase64, empty, tooLarge, badDataURI
        case notA(MediaType)
        case unsupportedType(String)

        var description: String {
            switch self {
            case .notBase64: "is not valid base64"
            case .empty: "is empty"
            case .tooLarge: "exceeds the 10 MB limit for inline images"
            case .badDataURI: "is not a base64 data URI (data:image/png;base64,...)"
            case .notA(let type): "is not a \(type.name) image"
            case .unsupportedType(let type): "has media type \(type.debugDescription); only image/png and image/jpeg are accepted"
            }
        }
    }
}
