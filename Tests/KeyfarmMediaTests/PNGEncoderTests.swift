import Foundation
@testable import KeyfarmMedia
import KeyfarmTestSupport
import Testing

/// The vectorised parts of the PNG writer against their plain definitions.
@Suite struct PNGEncoderTests {
    /// Adler-32 as RFC 1950 defines it, one byte at a time.
    static func plainAdler32(_ adler: UInt32, _ bytes: [UInt8]) -> UInt32 {
        var a = adler & 0xffff, b = adler >> 16
        for byte in bytes {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return b << 16 | a
    }

    @Test func adler32MatchesItsDefinitionAtEveryLengthAndSplit() async throws {
        try await offPool {
            var generator = SystemRandomNumberGenerator()
            // Lengths around the vector width and the block size, and one of several blocks.
            for count in [0, 1, 15, 16, 17, 255, 16 * 4096 - 1, 16 * 4096, 16 * 4096 + 33, 300_001] {
                // All 0xff is the worst case for the lanes' sums; random bytes the usual one.
                for bytes in [[UInt8](repeating: 0xff, count: count), (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }] {
                    let expected = Self.plainAdler32(1, bytes)
                    let whole = bytes.withUnsafeBufferPointer { Adler32.update(1, $0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: count) }
                    #expect(whole == expected, "\(count) bytes")
                    // Continuing from a checksum gives the checksum of the whole.
                    let split = count / 3
                    let resumed = bytes.withUnsafeBufferPointer { buffer -> UInt32 in
                        guard let base = buffer.baseAddress else { return 1 }
                        return Adler32.update(Adler32.update(1, base, count: split), base + split, count: count - split)
                    }
                    #expect(resumed == expected, "\(count) bytes in two parts")
                }
            }
        }
    }

    @Test func preciseSixteenBitCodesAreTheTransferFunctionsEvenNearRoundingBoundaries() async throws {
        try await offPool {
            // Linear values whose codes lie within a hundredth of a step of a rounding boundary,
            // where the table may be doubtful, and others anywhere; an odd width for the tails.
            let width = 37, height = 11
            var image = LinearImage(width: width, height: height)
            for i in 0..<image.pixels.count {
                let code = Float((i * 7919) % 65_535)
                let nudge: Float = i % 3 == 0 ? 0.499 : (i % 3 == 1 ? 0.501 : Float(i % 97) / 97)
                image.pixels[i] = SRGB.decode((code + nudge) / 65_535)
            }
            let back = try LinearImage.decodePNG(try image.pngData(bitDepth: 16, precise: true), path: "precise.png")
            var mismatches = 0
            for i in 0..<image.pixels.count {
                let expected = Int(SRGB.encode(image.pixels[i]) * 65_535 + 0.5)
                let written = Int(SRGB.encode(back.pixels[i]) * 65_535 + 0.5)
                if written != expected { mismatches += 1 }
            }
            #expect(mismatches == 0, "\(mismatches) of \(image.pixels.count) samples")
        }
    }
}
