import Foundation
import KeyfarmMedia
import KeyfarmTestSupport
import Testing

/// A fresh temporary folder, removed by the caller.
func temporaryDirectory() throws -> String {
    var template = Array("/tmp/kf-media-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
    return String(cString: made)
}

/// A picture whose samples are exactly the linear values of 8-bit sRGB codes.
func codedImage(width: Int, height: Int, bits: Int) -> LinearImage {
    var image = LinearImage(width: width, height: height)
    for i in 0..<image.pixels.count {
        image.pixels[i] = bits == 8 ? SRGB.decode8[(i * 37 + i / 7) % 256] : SRGB.decode16[(i * 4099 + i / 3) % 65536]
    }
    return image
}

@Suite struct ImageIOTests {
    @Test func srgbTransferMatchesTheStandard() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            #expect(abs(SRGB.decode(0.5) - 0.214041) < 1e-5)
            #expect(abs(SRGB.encode(0.214041) - 0.5) < 1e-5)
            #expect(SRGB.decode(0) == 0)
            #expect(abs(SRGB.decode(1) - 1) < 1e-6)
            #expect(abs(SRGB.decode(0.04) - 0.04 / 12.92) < 1e-7)      // the linear toe
            // Every 16-bit code survives decode then encode.
            for code in 0..<65536 {
                let back = Int(SRGB.encode(SRGB.decode16[code]) * 65535 + 0.5)
                if back != code { Issue.record("16-bit code \(code) came back as \(back)"); break }
            }
        }
    }

    @Test func png8BitRoundTripIsExact() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let image = codedImage(width: 37, height: 23, bits: 8)
            let data = try image.pngData(bitDepth: 8)
            #expect(data.starts(with: [0x89, 0x50, 0x4e, 0x47]))
            let back = try LinearImage.decodePNG(data, path: "memory.png")
            #expect(back == image)
        }
    }

    @Test func png16BitRoundTripIsExactInBothCompressions() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let image = codedImage(width: 41, height: 19, bits: 16)
            for compression in [LinearImage.PNGCompression.fast, .standard] {
                let back = try LinearImage.decodePNG(try image.pngData(bitDepth: 16, compression: compression), path: "m.png")
                #expect(back == image)
            }
            // The table-driven encoder stays within one 16-bit step.
            let fast = try LinearImage.decodePNG(try image.pngData(bitDepth: 16, precise: false), path: "m.png")
            for i in 0..<image.pixels.count {
                let a = SRGB.encode(image.pixels[i]) * 65535, b = SRGB.encode(fast.pixels[i]) * 65535
                if abs(a - b) > 1.01 { Issue.record("sample \(i): \(a) vs \(b)"); break }
            }
        }
    }

    @Test func pngCodedInBandsOnAllCoresRoundTripsExactly() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            // Tall enough for several bands, and an odd width so that bands hold odd byte counts.
            for bits in [16, 8] {
                let image = codedImage(width: 301, height: 203, bits: bits)
                let back = try LinearImage.decodePNG(try image.pngData(bitDepth: bits), path: "bands.png")
                #expect(back == image, "\(bits)-bit")
            }
            // Nearly flat: a few rare values would get codes longer than deflate's 15 bits.
            var flat = LinearImage(width: 256, height: 64, fill: SIMD3(repeating: SRGB.decode16[30_000]))
            for k in 0..<20 { flat.pixels[k * 997 % flat.pixels.count] = SRGB.decode16[k * 7919 % 65536] }
            let back = try LinearImage.decodePNG(try flat.pngData(bitDepth: 16), path: "flat.png")
            #expect(back == flat)
        }
    }

    @Test func pngFilesAreWrittenAndReadByPath() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let image = codedImage(width: 16, height: 9, bits: 16)
            try ImageFile.write(image, to: directory + "/a.png")
            #expect(try ImageFile.read(directory + "/a.png") == image)
            // ffprobe agrees that it is a 16-bit RGB PNG of that size.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory)
            #expect(leftovers == ["a.png"])
        }
    }

    @Test func exrHalfRoundTripPreservesHalfValues() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var image = LinearImage(width: 29, height: 17)
            for i in 0..<image.pixels.count {
                // Values that are exact in half precision, including above 1 (HDR) and tiny ones.
                image.pixels[i] = Float(Float16(Float(i % 97) * 0.173 - 2 + Float(i % 5) * 10))
            }
            image.pixels[0] = Float(Float16(6.1e-5)); image.pixels[1] = 65504
            try image.writeEXR(path: directory + "/a.exr")
            let back = try ImageFile.read(directory + "/a.exr")
            #expect(back == image)
            // A float that is not a half comes back rounded to the nearest half.
            let odd = LinearImage(width: 1, height: 1, pixels: [0.1, 0.2, 0.3])
            try odd.writeEXR(path: directory + "/b.exr")
            #expect(try ImageFile.read(directory + "/b.exr").pixels == [0.1, 0.2, 0.3].map { Float(Float16($0)) })
        }
    }

    @Test func corruptAndTruncatedFilesGiveErrorsNamingTheFile() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let png = try codedImage(width: 64, height: 64, bits: 8).pngData(bitDepth: 8, compression: .standard)
            try png.prefix(png.count / 2).write(to: URL(fileURLWithPath: directory + "/cut.png"))
            var flipped = png
            flipped[png.count / 2] ^= 0xff
            try flipped.write(to: URL(fileURLWithPath: directory + "/flipped.png"))
            try Data("not an image at all".utf8).write(to: URL(fileURLWithPath: directory + "/text.png"))
            try Data().write(to: URL(fileURLWithPath: directory + "/empty.png"))
            let exrPath = directory + "/good.exr"
            try LinearImage(width: 64, height: 64, fill: SIMD3(0.5, 0.25, 1)).writeEXR(path: exrPath)
            let exr = try Data(contentsOf: URL(fileURLWithPath: exrPath))
            try exr.prefix(exr.count - 40).write(to: URL(fileURLWithPath: directory + "/cut.exr"))
            try exr.prefix(20).write(to: URL(fileURLWithPath: directory + "/header.exr"))

            for (name, words) in [("cut.png", "not a readable PNG"), ("flipped.png", "not a readable PNG"),
                                  ("text.png", "not a PNG or EXR image"), ("empty.png", "empty file"),
                                  ("cut.exr", "not a readable EXR"), ("header.exr", "not a readable EXR"),
                                  ("missing.png", "cannot open")] {
                let path = directory + "/" + name
                do {
                    _ = try ImageFile.read(path)
                    Issue.record("\(name) was read")
                } catch let error as ImageError {
                    #expect(error.path == path)
                    #expect(error.description.hasPrefix(path + ": "))
                    #expect(error.reason.contains(words), "\(name): \(error.reason)")
                }
            }
        }
    }

    @Test func hugeDimensionsAreRefusedBeforeAllocating() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            // A valid IHDR for 20000 x 20000 (1.2 GB of 8-bit RGB) and nothing else.
            var ihdr = Data("IHDR".utf8)
            for value in [UInt32(20000), 20000] { withUnsafeBytes(of: value.bigEndian) { ihdr.append(contentsOf: $0) } }
            ihdr.append(contentsOf: [8, 2, 0, 0, 0])
            var png = Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
            withUnsafeBytes(of: UInt32(13).bigEndian) { png.append(contentsOf: $0) }
            png.append(ihdr)
            withUnsafeBytes(of: crc32(ihdr).bigEndian) { png.append(contentsOf: $0) }
            #expect(throws: ImageError.self) { try LinearImage.decodePNG(png, path: "huge.png") }
            do {
                _ = try LinearImage.decodePNG(png, path: "huge.png")
            } catch let error as ImageError {
                #expect(error.reason.contains("20000x20000 pixels is too large (at most 16384 per side"), "\(error.reason)")
            }
            // 16000 x 16000 passes the per-side limit but not the pixel budget.
            var wide = Data("IHDR".utf8)
            for value in [UInt32(16000), 16000] { withUnsafeBytes(of: value.bigEndian) { wide.append(contentsOf: $0) } }
            wide.append(contentsOf: [8, 2, 0, 0, 0])
            var big = Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
            withUnsafeBytes(of: UInt32(13).bigEndian) { big.append(contentsOf: $0) }
            big.append(wide)
            withUnsafeBytes(of: crc32(wide).bigEndian) { big.append(contentsOf: $0) }
            do {
                _ = try LinearImage.decodePNG(big, path: "big.png")
                Issue.record("a 256-megapixel PNG was accepted")
            } catch let error as ImageError {
                #expect(error.reason.contains("16000x16000 pixels is too large"), "\(error.reason)")
            }
        }
    }

    func crc32(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xedb8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }
}

@Suite struct ResamplerTests {
    @Test func aFlatPictureStaysFlatAtAnySize() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let flat = LinearImage(width: 64, height: 40, fill: SIMD3(0.2, 0.4, 0.6))
            for (w, h) in [(32, 20), (100, 61), (7, 5)] {
                let resized = Resampler.resize(flat, width: w, height: h)
                #expect(resized.width == w && resized.height == h)
                #expect(resized.pixels.enumerated().allSatisfy { abs($0.element - [0.2, 0.4, 0.6][$0.offset % 3]) < 1e-5 })
            }
        }
    }

    @Test func aPictureOfTheFramesSizeIsUntouched() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let image = codedImage(width: 32, height: 18, bits: 8)
            #expect(Resampler.conform(image, width: 32, height: 18) == image)
        }
    }

    @Test func cropKeepsTheCentreAndPadAddsBlackBars() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            // Left half dark, middle bright, right half dark: a 4:1 picture into a 2:1 frame.
            var image = LinearImage(width: 200, height: 50)
            for y in 0..<50 { for x in 75..<125 { image[x, y] = SIMD3(1, 1, 1) } }
            let cropped = Resampler.conform(image, width: 100, height: 50, fit: .crop)
            #expect(cropped.width == 100 && cropped.height == 50)
            #expect(cropped[50, 25].x > 0.99)     // the centre is kept at full scale
            #expect(cropped[5, 25].x < 0.01)
            let padded = Resampler.conform(image, width: 100, height: 50, fit: .pad)
            #expect(padded[50, 3].x == 0 && padded[50, 46].x == 0)     // bars above and below
            #expect(padded[50, 25].x > 0.99)
            // Downscaling a fine checkerboard averages it instead of aliasing.
            var checker = LinearImage(width: 64, height: 64)
            for y in 0..<64 { for x in 0..<64 where (x + y) % 2 == 0 { checker[x, y] = SIMD3(1, 1, 1) } }
            let small = Resampler.resize(checker, width: 16, height: 16)
            #expect(abs(small[8, 8].x - 0.5) < 0.02)
        }
    }
}
