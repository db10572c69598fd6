import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmProcess

/// `keyfarm bench stitch`: the stitcher's time against a plain ffmpeg encode of the same frames.
struct StitchBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stitch",
        abstract: "Time the stitcher on a long 1080p shot against a plain ffmpeg encode of the same frames.",
        discussion: """
            Writes a synthetic shot (a textured scene panning with moving objects) as the \
            artifacts of --segments interpolate segments: 16-bit PNG sequences whose neighbours \
            share their boundary frame, each with its SHA-256. Then, in the same run:

              plain    ffmpeg -framerate FPS -i %04d.png (the shot's frames once each, hard links \
            to the segment files) with the stitcher's own MP4 settings (libx264 --preset, CRF 18, \
            yuv420p, Rec.709), timed whole;
              stitch   the stitcher writing the shot's MP4 from the segments: checksums, boundary \
            frames kept once, frames piped to ffmpeg, ffprobe's check and the atomic move \
            included, timed whole.

            The target is a stitch at most 1.3 times the plain encode's time. Prints a table, or \
            with --json one object.
            """)

    @Option(help: ArgumentHelp("Segments in the shot.", valueName: "count"))
    var segments: Int = 15

    @Option(help: ArgumentHelp("The shot's length in seconds (at most 20).", valueName: "seconds"))
    var seconds: Int = 20

    @Option(help: ArgumentHelp("Frames per second.", valueName: "fps"))
    var fps: Int = 24

    @Option(help: ArgumentHelp("Frame width (height follows at 16:9).", valueName: "pixels"))
    var width: Int = 1920

    @Option(help: ArgumentHelp("x264 preset for both encodes.", valueName: "name"))
    var preset: String = "medium"

    @Option(help: ArgumentHelp("Keep the frames and outputs in this folder instead of a temporary one.", valueName: "dir"))
    var keep: String?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (1...20).contains(seconds) else { throw ValidationError("--seconds must be between 1 and 20") }
        guard (1...120).contains(fps) else { throw ValidationError("--fps must be between 1 and 120") }
        guard segments >= 1, segments * 2 <= seconds * fps else { throw ValidationError("--segments must be between 1 and half the frames") }
        guard (320...3840).contains(width) else { throw ValidationError("--width must be between 320 and 3840") }
    }

    struct Figures: Encodable {
        var frames: Int
        var segments: Int
        var width: Int
        var height: Int
        var preset: String
        var plain_seconds: Double
        var stitch_seconds: Double
        var ratio: Double
        var target_ratio: Double
    }

    func run() throws {
        try reportingFailures {
            _ = try common.logger()
            let height = (width * 9 / 16) & ~1
            let root = keep ?? NSTemporaryDirectory() + "keyfarm-bench-stitch-\(UUID().uuidString.prefix(8))"
            defer { if keep == nil { try? FileManager.default.removeItem(atPath: root) } }
            let count = seconds * fps
            let boundaries = (0...segments).map { $0 == segments ? count - 1 : $0 * (count - 1) / segments }
            let scene = InterpolateBenchCommand.sequences(width: width, height: height)[1].1
            let plainDirectory = root + "/plain"
            try FileManager.default.createDirectory(atPath: plainDirectory, withIntermediateDirectories: true)

            // The segment artifacts: every piece's frames, boundary frames in both neighbours.
            Console.current.printError("bench stitch: writing \(count) frames of \(width)x\(height) as \(segments) segments of 16-bit PNGs")
            var pieces: [StitchPiece] = []
            var jobs: [(piece: Int, local: Int, frame: Int, path: String, artifact: String)] = []
            for k in 0..<segments {
                let relative = "bench/shot/sh010/segments/sh010_s\(k)/attempt-1"
                try FileManager.default.createDirectory(atPath: root + "/" + relative, withIntermediateDirectories: true)
                for frame in boundaries[k]...boundaries[k + 1] {
                    let artifact = relative + String(format: "/frame_%04d.png", frame - boundaries[k])
                    jobs.append((k, frame - boundaries[k], frame, root + "/" + artifact, artifact))
                }
            }
            let digests = SharedDigests(count: jobs.count)
            let work = jobs
            DispatchQueue.concurrentPerform(iterations: work.count) { i in
                let job = work[i]
                guard let data = try? VideoFrame(scene.render(at: Double(job.frame) / Double(count - 1))).pngData(),
                      (try? data.write(to: URL(fileURLWithPath: job.path))) != nil else { return }
                digests.set(i, Checksum.sha256Hex(data))
            }
            for k in 0..<segments {
                var files: [StitchSourceFile] = []
                for (i, job) in jobs.enumerated() where job.piece == k {
                    guard let digest = digests.get(i) else { throw CommandFailure("bench stitch: cannot write \(job.path)", status: ExitStatus.failure) }
                    files.append(StitchSourceFile(path: job.path, artifact: job.artifact, sha256: digest))
                    // The plain encode reads each shot frame once: the later piece's copy of a boundary.
                    if k == segments - 1 || job.frame < boundaries[k + 1] {
                        link(job.path, plainDirectory + String(format: "/%04d.png", job.frame))
                    }
                }
                pieces.append(StitchPiece(key: "sh010/s\(k)", segmentIndex: k, startFrame: boundaries[k], endFrame: boundaries[k + 1],
                                          engine: "interpolate", attempt: 1, source: .frames(files)))
            }

            let stitcher = Stitcher(preset: preset)
            Console.current.printError("bench stitch: plain ffmpeg encode")
            let plainOutput = root + "/plain.mp4"
            let plainStart = Date()
            let plain = try ChildProcess(executable: stitcher.ffmpeg, arguments: stitcher.encoderArguments(
                input: ["-framerate", "\(fps)", "-i", plainDirectory + "/%04d.png"], outputs: [(.mp4, plainOutput)]),
                environment: ProcessInfo.processInfo.environment).run()
            let plainSeconds = Date().timeIntervalSince(plainStart)
            guard plain.status == 0 else {
                throw CommandFailure("bench stitch: ffmpeg failed (exit \(plain.status)): \(plain.tail(5))", status: ExitStatus.failure)
            }

            Console.current.printError("bench stitch: stitcher")
            let shotDirectory = root + "/bench/shot/sh010"
            let request = StitchRequest(shot: "sh010", width: width, height: height, frameRate: "\(fps)", frameCount: count, seam: 0,
                                        outputs: [.mp4], pieces: pieces, directory: shotDirectory, relativeDirectory: "bench/shot/sh010")
            let stitchStart = Date()
            let outputs: [StitchOutput]
            do {
                outputs = try stitcher.stitch(request)
            } catch {
                throw CommandFailure("bench stitch: \(error)", status: ExitStatus.failure)
            }
            let stitchSeconds = Date().timeIntervalSince(stitchStart)
            guard outputs.first?.frames == count else {
                throw CommandFailure("bench stitch: the stitch wrote \(outputs.first?.frames ?? 0) frames, not \(count)", status: ExitStatus.failure)
            }

            let round = { (value: Double) in (value * 100).rounded() / 100 }
            let figures = Figures(frames: count, segments: segments, width: width, height: height, preset: preset,
                                  plain_seconds: round(plainSeconds), stitch_seconds: round(stitchSeconds),
                                  ratio: round(stitchSeconds / plainSeconds), target_ratio: 1.3)
            if json {
                try printJSON(figures)
            } else {
                var table = TextTable(["METHOD", "SECONDS", "FRAMES/S", "RATIO"], rightAligned: [1, 2, 3])
                table.add(["plain ffmpeg", String(format: "%.2f", plainSeconds), String(format: "%.1f", Double(count) / plainSeconds), "1.00"])
                table.add(["keyfarm stitch", String(format: "%.2f", stitchSeconds), String(format: "%.1f", Double(count) / stitchSeconds),
                           String(format: "%.2f", stitchSeconds / plainSeconds)])
                Console.current.print("\(count) frames, \(width)x\(height), \(segments) segments, MP4 (libx264 --preset \(preset), CRF 18)")
                Console.current.write(table.render())
                Console.current.print("\ntarget: stitch at most 1.30 x the plain encode: "
                    + (stitchSeconds <= plainSeconds * 1.3 ? "met" : "NOT met"))
            }
        }
    }
}

/// Checksums written by parallel frame writers.
private final class SharedDigests: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: String) { lock.withLock { values[index] = value } }
    func get(_ index: Int) -> String? { lock.withLock { values[index] } }
}
