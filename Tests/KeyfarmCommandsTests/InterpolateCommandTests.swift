import Foundation
import KeyfarmMedia
import KeyfarmTestSupport
import Testing

/// `keyfarm interpolate`, in-process and as the built binary.
@Suite struct InterpolateCommandTests {
    static let scene = SyntheticScene(width: 160, height: 96, pan: SIMD2(8, 3),
                                      objects: [.init(origin: SIMD2(30, 24), size: SIMD2(48, 36), motion: SIMD2(20, 6), seed: 4)],
                                      seed: 12)

    func folder() throws -> String {
        var template = Array("/tmp/kf-interpolate-cmd-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        return String(cString: made)
    }

    @Test func writesTheFramesWithTheKeyframesAtBothEnds() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let directory = try folder()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try ImageFile.write(Self.scene.render(at: 0), to: directory + "/a.png", bitDepth: 8)
            try ImageFile.write(Self.scene.render(at: 1), to: directory + "/b.exr")
            let run = keyfarm("interpolate", directory + "/a.png", directory + "/b.exr", "--frames", "6", "--out", directory + "/out", "--json")
            #expect(run.status == 0, "\(run.error)")
            let report = try run.json()
            #expect(report["frames"] as? Int == 6)
            #expect(report["width"] as? Int == 160 && report["height"] as? Int == 96)
            #expect((report["files"] as? [[String: Any]])?.count == 6)
            #expect(run.error.contains("keyfarm: interpolate: 6/6 frames"))
            let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/out").sorted()
            #expect(names == (0..<6).map { String(format: "frame_%04d.png", $0) })
            #expect(try ImageFile.read(directory + "/out/frame_0000.png") == ImageFile.read(directory + "/a.png"))
            // The EXR end is linear half floats; the 16-bit PNG holds it within a 16-bit step.
            let last = try ImageFile.read(directory + "/out/frame_0005.png"), exr = try ImageFile.read(directory + "/b.exr")
            #expect(zip(last.pixels, exr.pixels).allSatisfy { abs(SRGB.encode($0) - SRGB.encode($1)) <= 1.0 / 65535 })

            // The sentence form, 8-bit, and a different output size with padding.
            let sized = keyfarm("interpolate", directory + "/a.png", directory + "/b.exr", "--frames", "3", "--out", directory + "/small",
                                "--width", "64", "--height", "64", "--fit", "pad", "--bit-depth", "8")
            #expect(sized.status == 0, "\(sized.error)")
            #expect(sized.out.hasPrefix("wrote 3 frames (64x64, 8-bit PNG) to \(directory)/small in "))
            let small = try ImageFile.read(directory + "/small/frame_0001.png")
            #expect(small.width == 64 && small.height == 64)
            #expect(small[32, 2] == SIMD3(0, 0, 0))    // a black bar above the 16:9 picture
        }
    }

    @Test func badInputsNameTheFileAndExitWithTheirStatus() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let directory = try folder()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try ImageFile.write(Self.scene.render(at: 0), to: directory + "/a.png", bitDepth: 8)
            let png = try Data(contentsOf: URL(fileURLWithPath: directory + "/a.png"))
            try png.prefix(png.count / 2).write(to: URL(fileURLWithPath: directory + "/cut.png"))

            let corrupt = keyfarm("interpolate", directory + "/a.png", directory + "/cut.png", "--frames", "4", "--out", directory + "/out")
            #expect(corrupt.status == 65)
            #expect(corrupt.error.contains("keyfarm: error: \(directory)/cut.png: not a readable PNG"), "\(corrupt.error)")
            #expect(!FileManager.default.fileExists(atPath: directory + "/out"))

            let missing = keyfarm("interpolate", directory + "/nope.png", directory + "/a.png", "--frames", "4", "--out", directory + "/out")
            #expect(missing.status == 66)
            #expect(missing.error.contains("\(directory)/nope.png: no such file"))

            let usage = keyfarm("interpolate", directory + "/a.png", directory + "/a.png", "--frames", "1", "--out", directory + "/out")
            #expect(usage.status == 64)
            #expect(usage.error.contains("--frames must be between 2 and 10000"))
        }
    }

    @Test func theBinaryRendersAndRefusesACorruptKeyframe() async throws {
        try await offPool {
            let directory = try folder()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try ImageFile.write(Self.scene.render(at: 0), to: directory + "/a.png")
            try ImageFile.write(Self.scene.render(at: 1), to: directory + "/b.png")
            try Data("P6 not a png".utf8).write(to: URL(fileURLWithPath: directory + "/bad.png"))
            let environment = ProcessInfo.processInfo.environment
            let good = try runBinary(["interpolate", directory + "/a.png", directory + "/b.png", "--frames", "5", "--out", directory + "/out"],
                                     environment: environment)
            #expect(good.status == 0, "\(good.error)")
            #expect(good.out.contains("wrote 5 frames (160x96, 16-bit PNG)"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/out").count == 5)
            let bad = try runBinary(["interpolate", directory + "/a.png", directory + "/bad.png", "--frames", "5", "--out", directory + "/out2"],
                                    environment: environment)
            #expect(bad.status == 65)
            #expect(bad.error.contains("\(directory)/bad.png: not a PNG or EXR image"))
        }
    }
}
