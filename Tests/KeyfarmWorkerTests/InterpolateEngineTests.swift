import Crypto
import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmWire
@testable import KeyfarmWorker
import KeyfarmTestSupport
import Testing

/// The `interpolate` engine run directly, as a slot thread would run it, on real files.
@Suite struct InterpolateEngineTests {
    final class Storage {
        let root: String
        init() throws {
            var template = Array("/tmp/kf-interp-engine-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
            root = String(cString: made)
        }
        deinit { try? FileManager.default.removeItem(atPath: root) }
    }

    static let scene = SyntheticScene(width: 160, height: 112, pan: SIMD2(6, 2),
                                      objects: [.init(origin: SIMD2(30, 30), size: SIMD2(50, 40), motion: SIMD2(24, 8), seed: 5)],
                                      seed: 9)

    func job(_ spec: [String: Any], storage: String, attempt: Int = 1) throws -> AssignedJob {
        let data = try JSONSerialization.data(withJSONObject: spec, options: [.sortedKeys])
        return AssignedJob(ref: AttemptRef(jobID: 42, attempt: attempt), key: "sh010/s0", kind: "segment",
                           engine: "interpolate", spec: String(decoding: data, as: UTF8.self), shotList: "demo",
                           project: "films", resumeProviderRequestID: nil, storage: storage)
    }

    func spec(start: [String: Any], end: [String: Any], frames: Int = 7, extra: [String: Any] = [:]) -> [String: Any] {
        ["kind": "segment", "key": "sh010/s0", "shot": "sh010", "engine": "interpolate", "frames": frames,
         "start_frame": 0, "end_frame": frames - 1, "width": 160, "height": 112, "start_image": start, "end_image": end]
            .merging(extra) { $1 }
    }

    /// Runs the engine and collects the progress fractions it reported.
    func run(_ job: AssignedJob, cancelled: Bool = false) -> (JobOutcome, [Float]) {
        var fractions: [Float] = []
        let control = JobControl()
        if cancelled { control.cancel() }
        let context = JobContext(job: job, control: control) { message in
            if case .progress(let body) = message { fractions.append(body.fraction) }
        }
        return (InterpolateEngine().run(job, context: context), fractions)
    }

    @Test func writesEveryFrameWithChecksumsAndTheKeyframesExactly() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let storage = try Storage()
            let a = Self.scene.render(at: 0), b = Self.scene.render(at: 1)
            try ImageFile.write(a, to: storage.root + "/a.png")
            try ImageFile.write(b, to: storage.root + "/b.png")
            let keyframeA = try ImageFile.read(storage.root + "/a.png"), keyframeB = try ImageFile.read(storage.root + "/b.png")
            let (outcome, fractions) = run(try job(spec(start: ["kind": "file", "path": storage.root + "/a.png"],
                                                        end: ["kind": "file", "path": storage.root + "/b.png"]),
                                                   storage: storage.root))
            guard case .succeeded(let artifacts, let credits, _, _) = outcome else {
                Issue.record("the job did not succeed: \(outcome)"); return
            }
            #expect(credits == 0)
            #expect(artifacts.count == 7)
            let directory = "films/demo/sh010/segments/sh010_s0/attempt-1"
            for (index, artifact) in artifacts.enumerated() {
                #expect(artifact.path == directory + "/" + String(format: "frame_%04d.png", index))
                #expect(artifact.mediaType == "image/png")
                let data = try Data(contentsOf: URL(fileURLWithPath: storage.root + "/" + artifact.path))
                #expect(artifact.bytes == Int64(data.count))
                #expect(artifact.sha256 == SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())
            }
            #expect(try ImageFile.read(storage.root + "/" + artifacts[0].path) == keyframeA)
            #expect(try ImageFile.read(storage.root + "/" + artifacts[6].path) == keyframeB)
            // The middle frame follows the motion much better than a blend would.
            let middle = try ImageFile.read(storage.root + "/" + artifacts[3].path)
            let truth = Self.scene.render(at: 0.5)
            let blend = Interpolator(start: keyframeA, end: keyframeB).crossfade(0.5)
            #expect(ImageQuality.psnr(middle, truth) > ImageQuality.psnr(blend, truth) + 5)
            // Only the finished folder is left: no temporary folder beside it.
            let segments = storage.root + "/films/demo/sh010/segments/sh010_s0"
            #expect(try FileManager.default.contentsOfDirectory(atPath: segments) == ["attempt-1"])
            #expect(fractions.last == 1)
            #expect(fractions == fractions.sorted())
        }
    }

    @Test func continuesFromTheLastFrameOfTheJobBeforeAndConformsTheSize() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let storage = try Storage()
            // The previous segment's artifacts: a PNG sequence, the last PNG is the start here.
            try FileManager.default.createDirectory(atPath: storage.root + "/prev", withIntermediateDirectories: true)
            let wide = Resampler.resize(Self.scene.render(at: 0), width: 320, height: 150)   // another size and aspect
            try ImageFile.write(Self.scene.render(at: 0.2), to: storage.root + "/prev/frame_0000.png")
            try ImageFile.write(wide, to: storage.root + "/prev/frame_0001.png")
            try ImageFile.write(Self.scene.render(at: 1), to: storage.root + "/b.exr")
            let inputs: [String: Any] = ["sh010/s-1": [
                ["path": "prev/frame_0000.png", "sha256": "", "bytes": 1, "media_type": "image/png"],
                ["path": "prev/frame_0001.png", "sha256": "", "bytes": 1, "media_type": "image/png"],
                ["path": "prev/manifest.json", "sha256": "", "bytes": 1, "media_type": "application/json"],
            ]]
            let (outcome, _) = run(try job(spec(start: ["kind": "last_frame_of", "job": "sh010/s-1"],
                                                end: ["kind": "file", "path": storage.root + "/b.exr"],
                                                frames: 3, extra: ["inputs": inputs]),
                                           storage: storage.root, attempt: 2))
            guard case .succeeded(let artifacts, _, _, _) = outcome else { Issue.record("\(outcome)"); return }
            #expect(artifacts.count == 3)
            let first = try ImageFile.read(storage.root + "/" + artifacts[0].path)
            #expect(first.width == 160 && first.height == 112)
            #expect(artifacts[0].path.hasPrefix("films/demo/sh010/segments/sh010_s0/attempt-2/"))
        }
    }

    @Test func unreadableKeyframesFailAsInvalidAndLeaveNothing() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let storage = try Storage()
            try ImageFile.write(Self.scene.render(at: 0), to: storage.root + "/a.png")
            let good = try Data(contentsOf: URL(fileURLWithPath: storage.root + "/a.png"))
            try good.prefix(good.count / 3).write(to: URL(fileURLWithPath: storage.root + "/cut.png"))
            try Data("v/1\u{1}garbage garbage".utf8).write(to: URL(fileURLWithPath: storage.root + "/bad.exr"))
            let cases: [([String: Any], String)] = [
                (["kind": "file", "path": storage.root + "/cut.png"], storage.root + "/cut.png: not a readable PNG"),
                (["kind": "file", "path": storage.root + "/bad.exr"], storage.root + "/bad.exr: not a readable EXR"),
                (["kind": "file", "path": storage.root + "/missing.png"], storage.root + "/missing.png: cannot open"),
                (["kind": "url", "url": "https://example.com/a.png"], "end_image is a URL"),
                (["kind": "last_frame_of", "job": "sh010/s9"], "inputs has no artifacts for sh010/s9"),
            ]
            for (end, message) in cases {
                let (outcome, _) = run(try job(spec(start: ["kind": "file", "path": storage.root + "/a.png"], end: end),
                                               storage: storage.root))
                guard case .failed(let errorClass, let text, _, _, _, _, _) = outcome else {
                    Issue.record("\(end): \(outcome)"); continue
                }
                #expect(errorClass == .invalid)
                #expect(text.contains(message), "\(text)")
            }
            #expect(!FileManager.default.fileExists(atPath: storage.root + "/films"))
        }
    }

    @Test func aCancelledJobStopsAndLeavesNoFrames() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let storage = try Storage()
            try ImageFile.write(Self.scene.render(at: 0), to: storage.root + "/a.png")
            try ImageFile.write(Self.scene.render(at: 1), to: storage.root + "/b.png")
            let (outcome, _) = run(try job(spec(start: ["kind": "file", "path": storage.root + "/a.png"],
                                                end: ["kind": "file", "path": storage.root + "/b.png"], frames: 40),
                                           storage: storage.root), cancelled: true)
            guard case .cancelled = outcome else { Issue.record("\(outcome)"); return }
            let segments = storage.root + "/films/demo/sh010/segments/sh010_s0"
            #expect((try? FileManager.default.contentsOfDirectory(atPath: segments)) ?? [] == [])
        }
    }
}

/// `interpolate` in an HDR shot: EXR keyframes above 1.0 in, half-float ACES2065-1 EXR frames out.
@Suite struct InterpolateHDRTests {
    @Test func anHDRSegmentKeepsItsHighlightsAndEndsOnItsKeyframes() async throws {
        try await offPool {
            let tests = InterpolateEngineTests()
            let storage = try InterpolateEngineTests.Storage()
            // Keyframes in linear Rec.709 with highlights at 4.0, as DWAB EXR and as ZIP EXR.
            let a = InterpolateEngineTests.scene.render(at: 0), b = InterpolateEngineTests.scene.render(at: 1)
            let brightA = LinearImage(width: a.width, height: a.height, pixels: a.pixels.map { $0 * 4 })
            let brightB = LinearImage(width: b.width, height: b.height, pixels: b.pixels.map { $0 * 4 })
            try EXRCodec.write(brightA, path: storage.root + "/a.exr", compression: "dwab", primaries: .rec709)
            try EXRCodec.write(brightB, path: storage.root + "/b.exr", compression: "zip", primaries: .rec709)
            let (outcome, _) = tests.run(try tests.job(tests.spec(start: ["kind": "file", "path": storage.root + "/a.exr"],
                                                                  end: ["kind": "file", "path": storage.root + "/b.exr"],
                                                                  extra: ["hdr": true]), storage: storage.root))
            guard case .succeeded(let artifacts, _, _, _) = outcome else { Issue.record("\(outcome)"); return }
            #expect(artifacts.map(\.mediaType) == [EXRExport.mediaType, "image/png"])
            #expect(artifacts[0].frames == 7)
            let frames = try EXRExport.readListing(storage.root + "/" + artifacts[0].path, sha256: artifacts[0].sha256)
            #expect(frames.count == 7)
            let first = try EXRCodec.read(path: storage.root + "/" + frames[0].path)
            let middle = try EXRCodec.read(path: storage.root + "/" + frames[3].path)
            #expect(first.info.chromaticities.flatMap(Primaries.init(chromaticities:)) == .ap0)
            #expect(first.info.compression == "zip" && middle.info.maxValue > 1.5, "max \(middle.info.maxValue)")
            // The first frame is the start keyframe, in AP0 (DWAB's loss aside).
            let expected = try EXRCodec.read(path: storage.root + "/a.exr").image.converted(Primaries.rec709.matrix(to: .ap0))
            let worst = zip(first.image.pixels, expected.pixels).map { abs($0 - $1) / max(abs($1), 0.05) }.max() ?? 1
            #expect(worst < 0.02, "\(worst)")
        }
    }
}
