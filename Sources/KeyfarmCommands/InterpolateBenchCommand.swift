import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmProcess

/// `keyfarm bench interpolate`: in-between quality and speed against a crossfade and ffmpeg's minterpolate.
struct InterpolateBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interpolate",
        abstract: "Compare Keyfarm's in-betweens with a crossfade and ffmpeg's minterpolate on synthetic 1080p sequences.",
        discussion: """
            Renders synthetic sequences with known ground truth (textured rectangles moving in \
            straight lines over a textured background that pans; slow, medium and fast), writes \
            the first and last frames as 8-bit PNG keyframes, and for each method measures the \
            mean PSNR of the in-between frames against the truth (sRGB values, all three \
            channels) and the frames per second:

              keyfarm       this binary's `keyfarm interpolate` run as a process (reads the PNG \
            keyframes, writes 16-bit PNGs), timed whole;
              crossfade     a linear blend, computed in this process;
              minterpolate  ffmpeg -framerate 1 -i key_%d.png -vf \
            tpad=stop_mode=clone:stop=1,format=yuv444p,minterpolate=fps=F-1:mi_mode=mci:scd=none \
            -frames:v F, writing raw RGB (its cheapest output), timed whole.

            The speed figure is frames written (keyframes included) over the process's wall \
            time. Prints a table, or with --json one object per sequence and method.
            """)

    @Option(help: ArgumentHelp("Frames per sequence, both keyframes included (3 to 61).", valueName: "count"))
    var frames: Int = 9

    @Option(help: ArgumentHelp("Frame width (height follows at 16:9).", valueName: "pixels"))
    var width: Int = 1920

    @Option(help: ArgumentHelp("ffmpeg to compare with.", valueName: "path"))
    var ffmpeg: String = "/usr/bin/ffmpeg"

    @Option(help: ArgumentHelp("Keep the keyframes and outputs in this folder instead of a temporary one.", valueName: "dir"))
    var keep: String?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (3...61).contains(frames) else { throw ValidationError("--frames must be between 3 and 61") }
        guard (320...3840).contains(width) else { throw ValidationError("--width must be between 320 and 3840") }
    }

    struct Row: Encodable {
        var sequence: String
        var method: String
        var psnr_db: Double
        var frames_per_second: Double
        var seconds: Double
    }

    /// The benchmark's scenes at `width` x `height`, motions scaled from their 1080p values.
    static func sequences(width: Int, height: Int) -> [(String, SyntheticScene)] {
        let s = Double(width) / 1920
        func object(_ x: Double, _ y: Double, _ w: Double, _ h: Double, _ dx: Double, _ dy: Double, _ seed: UInt64) -> SyntheticScene.Object {
            .init(origin: SIMD2(x, y) * s, size: SIMD2(w, h) * s, motion: SIMD2(dx, dy) * s, seed: seed)
        }
        return [
            ("slow", SyntheticScene(width: width, height: height, pan: SIMD2(24, 6) * s,
                                    objects: [object(400, 300, 420, 300, 60, 20, 21), object(1200, 500, 300, 300, -40, 30, 22)], seed: 1)),
            ("medium", SyntheticScene(width: width, height: height, pan: SIMD2(-64, 16) * s,
                                      objects: [object(300, 250, 480, 320, 180, -40, 31), object(1300, 600, 360, 280, -150, -60, 32)], seed: 2)),
            ("fast", SyntheticScene(width: width, height: height, pan: SIMD2(120, -30) * s,
                                    objects: [object(200, 300, 500, 360, 360, 80, 41), object(1400, 500, 400, 300, -300, 60, 42)], seed: 3)),
        ]
    }

    func run() throws {
        try reportingFailures {
            _ = try common.logger()
            let height = (width * 9 / 16) & ~1
            let root: String
            if let keep {
                try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
                root = keep
            } else {
                var template = Array("/tmp/keyfarm-bench-interpolate.XXXXXX".utf8CString)
                guard let made = mkdtemp(&template) else { throw CommandFailure("cannot create a temporary folder", status: ExitStatus.failure) }
                root = String(cString: made)
            }
            defer { if keep == nil { try? FileManager.default.removeItem(atPath: root) } }
            let keyfarm = try ownExecutable()
            var rows: [Row] = []
            for (name, scene) in Self.sequences(width: width, height: height) {
                let directory = root + "/" + name
                try FileManager.default.createDirectory(atPath: directory + "/keyfarm", withIntermediateDirectories: true)
                Console.current.printError("keyfarm: bench interpolate: \(name): rendering the truth")
                let truth = (0..<frames).map { scene.render(at: Double($0) / Double(frames - 1)) }
                try ImageFile.write(truth[0], to: directory + "/key_0.png", bitDepth: 8)
                try ImageFile.write(truth[frames - 1], to: directory + "/key_1.png", bitDepth: 8)
                let keyA = try ImageFile.read(directory + "/key_0.png"), keyB = try ImageFile.read(directory + "/key_1.png")
                let inner = 1..<(frames - 1)

                Console.current.printError("keyfarm: bench interpolate: \(name): keyfarm interpolate")
                let (ours, oursSeconds) = try Self.timed {
                    try ChildProcess(executable: keyfarm, arguments: ["interpolate", directory + "/key_0.png", directory + "/key_1.png",
                                                                      "--frames", "\(frames)", "--out", directory + "/keyfarm"],
                                     environment: ProcessInfo.processInfo.environment).run()
                }
                guard ours.status == 0 else {
                    throw CommandFailure("keyfarm interpolate failed (\(ours.status)): \(ours.tail(5))", status: ExitStatus.failure)
                }
                let oursPSNR = try inner.map { i in
                    ImageQuality.psnr(try ImageFile.read(directory + "/keyfarm/" + FrameSequence.name(i)), truth[i])
                }
                rows.append(Row(sequence: name, method: "keyfarm", psnr_db: mean(oursPSNR),
                                frames_per_second: Double(frames) / oursSeconds, seconds: oursSeconds))

                let (blend, blendSeconds) = Self.timed {
                    inner.map { i in Interpolator.crossfade(keyA, keyB, Float(i) / Float(frames - 1)) }
                }
                rows.append(Row(sequence: name, method: "crossfade",
                                psnr_db: mean(zip(blend, inner).map { ImageQuality.psnr($0, truth[$1]) }),
                                frames_per_second: Double(frames) / max(blendSeconds, 1e-6), seconds: blendSeconds))

                Console.current.printError("keyfarm: bench interpolate: \(name): ffmpeg minterpolate")
                let raw = directory + "/minterpolate.rgb"
                let filter = "tpad=stop_mode=clone:stop=1,format=yuv444p,minterpolate=fps=\(frames - 1):mi_mode=mci:scd=none,format=rgb24"
                let (theirs, theirSeconds) = try Self.timed {
                    try ChildProcess(executable: ffmpeg, arguments: ["-hide_banner", "-loglevel", "error", "-y", "-framerate", "1",
                                                                     "-i", directory + "/key_%d.png", "-vf", filter,
                                                                     "-frames:v", "\(frames)", "-f", "rawvideo", "-pix_fmt", "rgb24", raw],
                                     environment: [:]).run()
                }
                guard theirs.status == 0 else {
                    throw CommandFailure("ffmpeg minterpolate failed (\(theirs.status)): \(theirs.tail(5))", status: ExitStatus.failure)
                }
                let data = try Data(contentsOf: URL(fileURLWithPath: raw))
                let frameBytes = width * height * 3
                guard data.count >= frameBytes * frames else {
                    throw CommandFailure("ffmpeg wrote \(data.count / frameBytes) frames, not \(frames)", status: ExitStatus.failure)
                }
                let theirPSNR = inner.map { i -> Double in
                    var pixels = [Float](repeating: 0, count: frameBytes)
                    data.withUnsafeBytes { bytes in
                        for k in 0..<frameBytes { pixels[k] = SRGB.decode8[Int(bytes[i * frameBytes + k])] }
                    }
                    return ImageQuality.psnr(LinearImage(width: width, height: height, pixels: pixels), truth[i])
                }
                rows.append(Row(sequence: name, method: "minterpolate", psnr_db: mean(theirPSNR),
                                frames_per_second: Double(frames) / theirSeconds, seconds: theirSeconds))
                try? FileManager.default.removeItem(atPath: raw)
            }
            if json {
                try printJSON(["width": AnyEncodable(width), "height": AnyEncodable(height), "frames": AnyEncodable(frames),
                               "results": AnyEncodable(rows)])
            } else {
                Console.current.print("interpolation, \(width)x\(height), \(frames) frames per sequence (\(frames - 2) in-betweens scored)")
                var lines = TextTable(["sequence", "method", "PSNR dB", "frames/s", "seconds"], rightAligned: [2, 3, 4])
                for row in rows {
                    lines.add([row.sequence, row.method, String(format: "%.2f", row.psnr_db),
                               String(format: "%.2f", row.frames_per_second), String(format: "%.2f", row.seconds)])
                }
                Console.current.print(lines.render())
            }
        }
    }

    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }

    static func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let began = ContinuousClock.now
        let value = try body()
        let elapsed = ContinuousClock.now - began
        return (value, elapsed.inSeconds)
    }

}

/// Wraps any Encodable for a heterogeneous JSON object.
struct AnyEncodable: Encodable {
    let encodeValue: (any Encoder) throws -> Void
    init(_ value: some Encodable) { encodeValue = value.encode(to:) }
    func encode(to encoder: any Encoder) throws { try encodeValue(encoder) }
}
