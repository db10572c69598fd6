import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmProcess
import KeyfarmTestSupport
import Testing

/// Colour science and HDR deliverables: primaries matrices, the tone map, PQ, the C++ EXR
/// codec (DWAB), and a real stitch of an HDR export into EXR, HDR10 and tone-mapped MP4.
@Suite struct HDRStitchTests {
    @Test func primariesMatricesAreTheStandardOnes() {
        // ACES2065-1 to ACEScg, as published in the ACES documentation (S-2014-004), to 4 decimals.
        let ap0ToAp1 = Primaries.ap0.matrix(to: .ap1)
        let published = [1.4514393161, -0.2365107469, -0.2149285693, -0.0765537734, 1.1762296998, -0.0996759264,
                         0.0083161484, -0.0060324498, 0.9977163014]
        for (a, b) in zip(ap0ToAp1, published) { #expect(abs(a - b) < 1e-3, "\(ap0ToAp1)") }
        // Rec.709 to BT.2020 (ITU-R BT.2087), to 4 decimals.
        let toRec2020 = Primaries.rec709.matrix(to: .rec2020)
        for (a, b) in zip(toRec2020, [0.6274, 0.3293, 0.0433, 0.0691, 0.9195, 0.0114, 0.0164, 0.0880, 0.8956]) {
            #expect(abs(a - b) < 1e-3, "\(toRec2020)")
        }
        // White stays white, and a round trip is the identity.
        let white = LinearImage(width: 1, height: 1, fill: SIMD3(1, 1, 1)).converted(Primaries.ap0.matrix(to: .rec709))
        #expect(white.pixels.allSatisfy { abs($0 - 1) < 1e-3 })
        let back = Primaries.rec709.matrix(to: .ap0)
        let there = LinearImage(width: 1, height: 1, fill: SIMD3(4, 0.5, 0.1)).converted(Primaries.ap0.matrix(to: .rec709)).converted(back)
        #expect(zip(there.pixels, [4, 0.5, 0.1] as [Float]).allSatisfy { abs($0 - $1) < 1e-3 })
        #expect(Primaries(chromaticities: Primaries.ap0.chromaticities) == .ap0)
        #expect(Primaries(chromaticities: [0, 0, 0, 0, 0, 0, 0, 0]) == nil)
    }

    @Test func theToneMapCompressesHighlightsWithoutClipping() {
        #expect(HDRTransfer.toneCurve(0.5) == 0.5)
        var previous: Float = 0
        for step in 1...200 {
            let value = HDRTransfer.toneCurve(Float(step) * 0.05)
            #expect(value > previous && value < 1)
            previous = value
        }
        let mapped = LinearImage(width: 2, height: 1, pixels: [1.5, 1.5, 1.5, 6, 3, 0.5]).toneMapped()
        #expect(mapped.pixels.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(mapped.pixels[3] > mapped.pixels[0])                  // brighter stays brighter
        #expect(abs(mapped.pixels[4] / mapped.pixels[3] - 0.5) < 1e-4) // the hue holds
        // PQ: 100 cd/m2 codes at about 0.508, 1000 at 0.752, 10000 at 1.
        #expect(abs(HDRTransfer.pq(nits: 100) - 0.5081) < 1e-3)
        #expect(abs(HDRTransfer.pq(nits: 1000) - 0.7518) < 1e-3)
        #expect(abs(HDRTransfer.pq(nits: 10000) - 1) < 1e-4)
    }

    @Test func theCodecWritesAndReadsDWABWithChromaticities() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var image = LinearImage(width: 64, height: 40)
        for y in 0..<40 { for x in 0..<64 { image[x, y] = SIMD3(Float(x) / 8, Float(y) / 20, 0.25) } }
        let path = directory + "/dwab.exr"
        try EXRCodec.write(image, path: path, compression: "dwab", primaries: .ap0)
        let read = try EXRCodec.read(path: path)
        #expect(read.info.compression == "dwab" && read.info.allHalf && read.info.parts == 1)
        #expect(read.info.chromaticities.flatMap(Primaries.init(chromaticities:)) == .ap0)
        #expect(read.info.maxValue > 7.5)   // 63 / 8: above 1.0, unclamped
        let worst = zip(read.image.pixels, image.pixels).map { abs($0 - $1) / max($1, 0.05) }.max() ?? 1
        #expect(worst < 0.05, "DWAB is lossy, but not by this much: \(worst)")
        // exrheader agrees.
        let header = try ChildProcess(executable: "/usr/bin/exrheader", arguments: [path], environment: [:]).run()
        #expect(header.output.contains("dwa") && header.output.contains("0.7347"), "\(header.output)")
        // Not an EXR: a clear refusal.
        try Data("PK\u{3}\u{4}not an exr".utf8).write(to: URL(fileURLWithPath: directory + "/junk.exr"))
        #expect(throws: ImageError.self) { try EXRCodec.read(path: directory + "/junk.exr") }
    }

    /// An HDR export: frames of a bright ramp in AP0 DWAB, the last one far above 1.0.
    static func exrPiece(root: String, key: String, index: Int, start: Int, end: Int, peak: Float) throws -> StitchPiece {
        let relative = "proj/list/sh010/segments/\(key.replacingOccurrences(of: "/", with: "_"))/attempt-1/exr"
        try FileManager.default.createDirectory(atPath: root + "/" + relative, withIntermediateDirectories: true)
        var files: [StitchSourceFile] = []
        for frame in start...end {
            var image = LinearImage(width: 64, height: 48)
            let level = peak * Float(frame - start + 1) / Float(end - start + 1)
            for y in 0..<48 { for x in 0..<64 { image[x, y] = SIMD3(level * Float(x + 1) / 64, level * 0.5, 0.05) } }
            let artifact = relative + String(format: "/frame_%04d.exr", frame - start)
            try EXRCodec.write(image, path: root + "/" + artifact, compression: "dwab", primaries: .ap0)
            files.append(StitchSourceFile(path: root + "/" + artifact, artifact: artifact,
                                          sha256: Checksum.sha256Hex(ofFile: root + "/" + artifact)!))
        }
        return StitchPiece(key: key, segmentIndex: index, startFrame: start, endFrame: end, engine: "luma/ray-3.2",
                           attempt: 1, source: .exrFrames(files))
    }

    @Test func anHDRShotStitchesIntoEXRAndHDR10AndAToneMappedMP4() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pieces = [try Self.exrPiece(root: root, key: "sh010/s0", index: 0, start: 0, end: 8, peak: 2),
                      try Self.exrPiece(root: root, key: "sh010/s1", index: 1, start: 8, end: 15, peak: 8)]
        var request = StitchRequest(shot: "sh010", width: 64, height: 48, frameRate: "24", frameCount: 16, seam: 0,
                                    outputs: [.mp4, .exr, .hdr10], pieces: pieces, directory: root + "/proj/list/sh010",
                                    relativeDirectory: "proj/list/sh010")
        request.hdr = true
        request.exrPrimaries = .ap1   // exr_colorspace: acescg
        let outputs = try Stitcher(preset: "ultrafast").stitch(request)
        #expect(Set(outputs.map(\.format)) == ["mp4", "exr", "hdr10", "manifest"])
        let hdr10 = try #require(outputs.first { $0.format == "hdr10" })
        #expect(hdr10.path == "proj/list/sh010/sh010_hdr10.mp4" && hdr10.mediaType == Stitcher.hdr10MediaType)

        // The EXR deliverable: ACEScg chromaticities, highlights far above 1.0, the source's
        // values taken through the AP0 to AP1 matrix.
        let last = try EXRCodec.read(path: root + "/proj/list/sh010/exr/sh010.0015.exr")
        #expect(last.info.chromaticities.flatMap(Primaries.init(chromaticities:)) == .ap1)
        #expect(last.info.maxValue > 6, "max \(last.info.maxValue)")
        let source = try EXRCodec.read(path: pieces[1].sourcePath(7)!).image.converted(Primaries.ap0.matrix(to: .ap1))
        let error = zip(last.image.pixels, source.pixels).map { abs($0 - $1) / max(abs($1), 0.05) }.max() ?? 1
        #expect(error < 0.01, "\(error)")

        // HDR10: HEVC Main 10, BT.2020 + PQ tagged, mastering display and content light level in the stream.
        let probe = try ChildProcess(executable: "/usr/bin/ffprobe", arguments: [
            "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
            "stream=codec_name,profile,pix_fmt,color_space,color_primaries,color_transfer,nb_read_packets:frame=side_data_list",
            "-read_intervals", "%+#1", "-show_frames", "-of", "json", root + "/proj/list/sh010/sh010_hdr10.mp4",
        ], environment: [:]).run()
        for fact in ["\"hevc\"", "\"Main 10\"", "\"yuv420p10le\"", "\"bt2020nc\"", "\"bt2020\"", "\"smpte2084\"",
                     "Mastering display metadata", "Content light level metadata"] {
            #expect(probe.output.contains(fact), "\(fact) missing: \(probe.output)")
        }
        #expect(try VideoProbe.stream(root + "/proj/list/sh010/sh010_hdr10.mp4").packets == 16)
        // MaxCLL: the brightest pixel, 8.0 of diffuse white in AP0 taken to BT.2020, at 203 cd/m2 a unit, capped at 1000.
        #expect(probe.output.contains("\"max_content\": 1000"), "\(probe.output)")

        // The MP4's highlights are rolled off, not clipped: its brightest frame still shows the ramp.
        let mp4 = try VideoProbe.stream(root + "/proj/list/sh010/sh010.mp4")
        #expect(mp4.packets == 16 && mp4.colorPrimaries == "bt709")
        let manifest = try String(contentsOfFile: root + "/proj/list/sh010/manifest.json", encoding: .utf8)
        #expect(manifest.contains("frame_0007.exr"))
    }
}

extension StitchPiece {
    /// The path of source frame `index`, for an EXR or PNG sequence.
    func sourcePath(_ index: Int) -> String? {
        switch source {
        case .frames(let files), .exrFrames(let files): files[index].path
        case .video(let file): file.path
        }
    }
}
