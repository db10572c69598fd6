import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmProcess
import KeyfarmTestSupport
import Testing

@Suite struct StitchTimelineTests {
    @Test func everyFrameOnceWithSharedBoundariesKeptOnce() throws {
        let timeline = try StitchTimeline(pieces: [(0, 12), (12, 30), (30, 31)], frameCount: 32, seam: 0)
        #expect(timeline.frames.count == 32)
        #expect(timeline.frames.allSatisfy { $0.count == 1 && $0[0].weight == 1 })
        // The boundary frame comes from the later piece, its first frame.
        #expect(timeline.frames[12] == [.init(piece: 1, local: 0, weight: 1)])
        #expect(timeline.frames[30] == [.init(piece: 2, local: 0, weight: 1)])
        #expect(timeline.frames[31] == [.init(piece: 2, local: 1, weight: 1)])
    }

    @Test func seamsBlendAroundTheBoundaryAndNeverOverlap() throws {
        let timeline = try StitchTimeline(pieces: [(0, 10), (10, 20)], frameCount: 21, seam: 4)
        let blended = timeline.frames.indices.filter { timeline.frames[$0].count == 2 }
        #expect(blended == [9, 10, 11, 12])
        // Weights rise evenly; the earlier piece is held at the boundary after it.
        #expect(timeline.frames[9].map(\.weight) == [0.8, 0.2])
        #expect(timeline.frames[12][0] == .init(piece: 0, local: 10, weight: 0.19999999999999996))
        #expect(timeline.frames[12][1].local == 2)
        for frame in timeline.frames { #expect(abs(frame.reduce(0) { $0 + $1.weight } - 1) < 1e-9) }

        // One-new-frame pieces leave no room inside: the seam shrinks to the boundary frame.
        let tight = try StitchTimeline(pieces: [(0, 1), (1, 2), (2, 3)], frameCount: 4, seam: 12)
        #expect(tight.frames.count == 4)
        #expect(tight.frames[1].count == 2 && tight.frames[2].count == 2)
        #expect(tight.frames[0].count == 1 && tight.frames[3].count == 1)
    }

    @Test func gapsOverlapsAndShortShotsAreRefused() {
        #expect(throws: StitchTimeline.Invalid.self) { try StitchTimeline(pieces: [(0, 10), (11, 20)], frameCount: 21, seam: 0) }
        #expect(throws: StitchTimeline.Invalid.self) { try StitchTimeline(pieces: [(0, 10), (10, 20)], frameCount: 30, seam: 0) }
        #expect(throws: StitchTimeline.Invalid.self) { try StitchTimeline(pieces: [(1, 10)], frameCount: 11, seam: 0) }
        #expect(throws: StitchTimeline.Invalid.self) { try StitchTimeline(pieces: [(0, 0)], frameCount: 1, seam: 0) }
    }

    @Test func retimingMeetsBothEnds() {
        #expect(StitchTimeline.sourcePosition(local: 0, planned: 49, available: 120) == 0)
        #expect(StitchTimeline.sourcePosition(local: 48, planned: 49, available: 120) == 119)
        #expect(StitchTimeline.sourcePosition(local: 24, planned: 49, available: 121) == 60)
    }
}

/// Real stitches of small shots through real ffmpeg, ffprobe and OpenEXR.
@Suite struct StitcherTests {
    static let width = 96, height = 64
    static let scene = SyntheticScene(width: width, height: height, pan: SIMD2(20, 6),
                                      objects: [.init(origin: SIMD2(20, 16), size: SIMD2(24, 20), motion: SIMD2(30, 8), seed: 5)],
                                      seed: 9)

    /// A shot folder in a fresh storage root.
    struct Storage {
        let root: String
        var shotDirectory: String { root + "/proj/list/sh010" }
        init() throws {
            root = try temporaryDirectory()
            try FileManager.default.createDirectory(atPath: root + "/proj/list/sh010", withIntermediateDirectories: true)
        }
        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    /// Writes frames [start, end] of the scene (at t = frame / last) as an interpolate segment's PNGs.
    static func pngPiece(_ storage: Storage, key: String, index: Int, start: Int, end: Int, last: Int) throws -> StitchPiece {
        let relative = "proj/list/sh010/segments/\(key.replacingOccurrences(of: "/", with: "_"))/attempt-1"
        try FileManager.default.createDirectory(atPath: storage.root + "/" + relative, withIntermediateDirectories: true)
        var files: [StitchSourceFile] = []
        for frame in start...end {
            let data = try VideoFrame(scene.render(at: Double(frame) / Double(last))).pngData()
            let artifact = relative + String(format: "/frame_%04d.png", frame - start)
            try data.write(to: URL(fileURLWithPath: storage.root + "/" + artifact))
            files.append(StitchSourceFile(path: storage.root + "/" + artifact, artifact: artifact, sha256: Checksum.sha256Hex(data)))
        }
        return StitchPiece(key: key, segmentIndex: index, startFrame: start, endFrame: end, engine: "interpolate",
                           attempt: 1, source: .frames(files))
    }

    /// A provider-like clip: `frames` frames of ffmpeg's test pattern at 320x240 (4:3) and 24 fps.
    static func videoPiece(_ storage: Storage, key: String, index: Int, start: Int, end: Int, frames: Int) throws -> StitchPiece {
        let relative = "proj/list/sh010/segments/\(key.replacingOccurrences(of: "/", with: "_"))/attempt-2"
        try FileManager.default.createDirectory(atPath: storage.root + "/" + relative, withIntermediateDirectories: true)
        let path = storage.root + "/" + relative + "/video.mp4"
        let outcome = try ChildProcess(executable: "ffmpeg", arguments: [
            "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24", "-frames:v", "\(frames)",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-y", path,
        ], environment: ProcessInfo.processInfo.environment).run()
        #expect(outcome.status == 0, "\(outcome.tail())")
        let sha = try #require(Checksum.sha256Hex(ofFile: path))
        return StitchPiece(key: key, segmentIndex: index, startFrame: start, endFrame: end, engine: "luma/ray-2",
                           attempt: 2, provider: "luma", requestID: "req-\(index)",
                           source: .video(StitchSourceFile(path: path, artifact: relative + "/video.mp4", sha256: sha)))
    }

    static func request(_ storage: Storage, pieces: [StitchPiece], frames: Int, seam: Int = 0, fps: String = "24",
                        outputs: [OutputFormat]) -> StitchRequest {
        StitchRequest(shot: "sh010", width: width, height: height, frameRate: fps, frameCount: frames, seam: seam,
                      outputs: outputs, pieces: pieces, directory: storage.shotDirectory, relativeDirectory: "proj/list/sh010")
    }

    /// Frames ffmpeg decodes from a file (not the stitcher's own packet count).
    static func decodedFrames(_ path: String) throws -> Int {
        let outcome = try ChildProcess(executable: "ffprobe", arguments: [
            "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames",
            "-of", "default=nokey=1:noprint_wrappers=1", path,
        ], environment: ProcessInfo.processInfo.environment).run()
        return Int(outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static func run(_ request: StitchRequest) throws -> [StitchOutput] {
        try Stitcher(preset: "ultrafast").stitch(request)
    }

    @Test func keyframesLandOnTheirFramesInEveryDeliverable() async throws {
        try await offPool {
            let storage = try Storage()
            defer { storage.remove() }
            let pieces = [try Self.pngPiece(storage, key: "sh010/s0", index: 0, start: 0, end: 12, last: 30),
                          try Self.pngPiece(storage, key: "sh010/s1", index: 1, start: 12, end: 30, last: 30)]
            let outputs = try Self.run(Self.request(storage, pieces: pieces, frames: 31, outputs: [.mp4, .prores, .exr]))
            #expect(outputs.map(\.format) == ["mp4", "prores", "exr", "manifest"])
            #expect(outputs.allSatisfy { $0.frames == 31 })
            #expect(try Self.decodedFrames(storage.shotDirectory + "/sh010.mp4") == 31)
            #expect(try Self.decodedFrames(storage.shotDirectory + "/sh010.mov") == 31)
            let mp4 = try VideoProbe.stream(storage.shotDirectory + "/sh010.mp4")
            #expect(mp4.codec == "h264" && mp4.pixelFormat == "yuv420p")
            #expect([mp4.colorSpace, mp4.colorPrimaries, mp4.colorTransfer] == ["bt709", "bt709", "bt709"])
            let mov = try VideoProbe.stream(storage.shotDirectory + "/sh010.mov")
            #expect(mov.codec == "prores" && mov.profile == "HQ" && mov.pixelFormat == "yuv422p10le")

            // On the lossless deliverable each keyframe is its frame, well over 40 dB.
            for (frame, t) in [(0, 0.0), (12, 12.0 / 30), (30, 1.0)] {
                let written = try ImageFile.read(storage.shotDirectory + String(format: "/exr/sh010.%04d.exr", frame))
                let psnr = ImageQuality.psnr(written, Self.scene.render(at: t))
                #expect(psnr > 40, "frame \(frame): \(psnr) dB")
            }
            // No staging folder is left behind.
            let names = try FileManager.default.contentsOfDirectory(atPath: storage.shotDirectory).sorted()
            #expect(names == ["exr", "manifest.json", "segments", "sh010.mov", "sh010.mp4"])
        }
    }

    @Test func theEXRSequenceReadsBackInIndependentReaders() async throws {
        try await offPool {
            let storage = try Storage()
            defer { storage.remove() }
            let pieces = [try Self.pngPiece(storage, key: "sh010/s0", index: 0, start: 0, end: 5, last: 5)]
            _ = try Self.run(Self.request(storage, pieces: pieces, frames: 6, outputs: [.exr]))
            let files = try FileManager.default.contentsOfDirectory(atPath: storage.shotDirectory + "/exr").sorted()
            #expect(files == (0...5).map { String(format: "sh010.%04d.exr", $0) })
            let first = storage.shotDirectory + "/exr/sh010.0000.exr"

            let header = try ChildProcess(executable: "exrheader", arguments: [first], environment: [:]).run()
            #expect(header.status == 0)
            #expect(header.output.contains("compression (type compression): zip"), "\(header.output)")
            #expect(header.output.contains("chromaticities (type chromaticities)"), "\(header.output)")
            #expect(header.output.contains("red   (0.64 0.33)") || header.output.contains("red (0.64 0.33)"), "\(header.output)")
            #expect(header.output.contains("white (0.3127 0.329)"), "\(header.output)")
            for channel in ["R", "G", "B"] {
                #expect(header.output.contains("\(channel), 16-bit floating-point"), "\(header.output)")
            }
            #expect(header.output.contains("dataWindow (type box2i): (0 0) - (95 63)"), "\(header.output)")

            let probe = try VideoProbe.stream(first)
            #expect(probe.codec == "exr" && probe.width == 96 && probe.height == 64)
            let ours = try EXRHeader.read(first)
            #expect(ours.channels == ["B", "G", "R"] && ours.allHalf && ours.zip)
            #expect(ours.chromaticities == [0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290])
        }
    }

    @Test func oddShapesStitchToExactlyThePlannedFrameCount() async throws {
        try await offPool {
            let storage = try Storage()
            defer { storage.remove() }
            // One new frame per segment, a long seam, at 29.97 fps.
            let tiny = try (0..<3).map { try Self.pngPiece(storage, key: "sh010/s\($0)", index: $0, start: $0, end: $0 + 1, last: 3) }
            let outputs = try Self.run(Self.request(storage, pieces: tiny, frames: 4, seam: 6, fps: "30000/1001", outputs: [.mp4]))
            #expect(outputs.first?.frames == 4)
            #expect(try Self.decodedFrames(storage.shotDirectory + "/sh010.mp4") == 4)
            #expect(try VideoProbe.stream(storage.shotDirectory + "/sh010.mp4").frameRate == "30000/1001")

            // A provider clip of 48 frames (4:3) retimed into 21, one of 10 stretched over 25,
            // between interpolated pieces, with a seam of 3.
            let pieces = [try Self.pngPiece(storage, key: "sh010/s0", index: 0, start: 0, end: 10, last: 80),
                          try Self.videoPiece(storage, key: "sh010/s1", index: 1, start: 10, end: 30, frames: 48),
                          try Self.videoPiece(storage, key: "sh010/s2", index: 2, start: 30, end: 54, frames: 10),
                          try Self.pngPiece(storage, key: "sh010/s3", index: 3, start: 54, end: 80, last: 80)]
            let mixed = try Self.run(Self.request(storage, pieces: pieces, frames: 81, seam: 3, outputs: [.mp4, .exr]))
            #expect(mixed.map(\.frames) == [81, 81, 81])
            #expect(try Self.decodedFrames(storage.shotDirectory + "/sh010.mp4") == 81)
            #expect(try FileManager.default.contentsOfDirectory(atPath: storage.shotDirectory + "/exr").count == 81)

            let manifest = try #require(try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: storage.shotDirectory + "/manifest.json"))) as? [String: Any])
            let frames = try #require(manifest["frame_sources"] as? [[String: Any]])
            #expect(frames.count == 81)
            let sources = frames.map { $0["sources"] as! [[String: Any]] }
            // Frame 20 is the provider clip's frame 47 * 10 / 20, nearest: 24 (23.5 rounds up).
            #expect(sources[20].count == 1)
            #expect(sources[20][0]["job"] as? String == "sh010/s1")
            #expect(sources[20][0]["source_frame"] as? Double == 24)
            #expect(sources[20][0]["provider_request_id"] as? String == "req-1")
            #expect(sources[20][0]["attempt"] as? Int == 2)
            // Stretched: frame 31 lies between the 10-frame clip's frames 0 and 1.
            let stretched = try #require(sources[36].first)
            #expect(stretched["job"] as? String == "sh010/s2")
            #expect((stretched["source_frame"] as? Double).map { $0 > 2 && $0 < 3 } == true)
            // The seam at frame 54 blends the two pieces around it.
            #expect(sources[54].map { $0["job"] as? String } == ["sh010/s2", "sh010/s3"])
            #expect(sources.allSatisfy { $0.allSatisfy { ($0["sha256"] as? String)?.count == 64 } })
        }
    }

    @Test func aCorruptOrMissingSegmentFailsCleanlyAndLeavesNoOutput() async throws {
        try await offPool {
            let storage = try Storage()
            defer { storage.remove() }
            let pieces = [try Self.pngPiece(storage, key: "sh010/s0", index: 0, start: 0, end: 6, last: 12),
                          try Self.pngPiece(storage, key: "sh010/s1", index: 1, start: 6, end: 12, last: 12)]
            guard case .frames(let files) = pieces[1].source else { Issue.record("not frames"); return }
            // Flip one byte of a frame in the middle.
            let handle = try #require(FileHandle(forUpdatingAtPath: files[3].path))
            try handle.seek(toOffset: 200)
            let byte = try #require(try handle.read(upToCount: 1)).first!
            try handle.seek(toOffset: 200)
            try handle.write(contentsOf: Data([byte ^ 0xFF]))
            try handle.close()
            let request = Self.request(storage, pieces: pieces, frames: 13, outputs: [.mp4, .exr])
            let corrupt = #expect(throws: StitchError.self) { try Self.run(request) }
            #expect(corrupt?.kind == .invalid)
            #expect(corrupt?.description.contains(files[3].artifact) == true)
            #expect(corrupt?.description.contains("corrupt") == true)
            #expect(try FileManager.default.contentsOfDirectory(atPath: storage.shotDirectory) == ["segments"])

            try FileManager.default.removeItem(atPath: files[3].path)
            let missing = #expect(throws: StitchError.self) { try Self.run(request) }
            #expect(missing?.kind == .invalid)
            #expect(missing?.description.contains("missing") == true)
            #expect(try FileManager.default.contentsOfDirectory(atPath: storage.shotDirectory) == ["segments"])

            // A video that is not one fails as invalid too.
            let video = try Self.videoPiece(storage, key: "sh010/s1", index: 1, start: 6, end: 12, frames: 12)
            guard case .video(let file) = video.source else { return }
            try Data("not a video".utf8).write(to: URL(fileURLWithPath: file.path))
            var broken = video
            broken.source = .video(StitchSourceFile(path: file.path, artifact: file.artifact, sha256: Checksum.sha256Hex(Data("not a video".utf8))))
            let undecodable = #expect(throws: StitchError.self) {
                try Self.run(Self.request(storage, pieces: [pieces[0], broken], frames: 13, outputs: [.mp4]))
            }
            #expect(undecodable?.kind == .invalid)
            #expect(try FileManager.default.contentsOfDirectory(atPath: storage.shotDirectory) == ["segments"])
        }
    }

    @Test func aRerunReplacesTheDeliverablesCleanly() async throws {
        try await offPool {
            let storage = try Storage()
            defer { storage.remove() }
            let pieces = [try Self.pngPiece(storage, key: "sh010/s0", index: 0, start: 0, end: 8, last: 8)]
            _ = try Self.run(Self.request(storage, pieces: pieces, frames: 9, outputs: [.mp4, .exr]))
            #expect(FileManager.default.fileExists(atPath: storage.shotDirectory + "/exr/sh010.0008.exr"))
            let outputs = try Self.run(Self.request(storage, pieces: pieces, frames: 9, outputs: [.prores]))
            #expect(outputs.map(\.format) == ["prores", "manifest"])
            let names = try FileManager.default.contentsOfDirectory(atPath: storage.shotDirectory).sorted()
            #expect(names == ["manifest.json", "segments", "sh010.mov"])
        }
    }
}
