import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmMedia

/// `keyfarm interpolate A B --frames N --out DIR`: the farm's local engine, by hand.
struct InterpolateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interpolate",
        abstract: "Render the in-between frames of two keyframe images into a folder of PNGs.",
        discussion: """
            Reads two keyframes (PNG, 8 or 16 bit, or OpenEXR, half or float; recognised by their \
            contents), estimates the motion between them in both directions (a block search over \
            image pyramids, refined to sub-pixel and checked forwards against backwards), and \
            writes --frames frames into --out as frame_0000.png ... frame_<N-1>.png, 16-bit sRGB \
            PNG unless --bit-depth 8. The first and last frames are the keyframes themselves, bit \
            for bit when they are PNGs of the output size; the frames between follow the motion, \
            take what is covered or uncovered from the keyframe that shows it, and blend where \
            nothing moves consistently. Keyframes that do not match at all (a scene cut) give a \
            plain crossfade. This is the engine a worker runs for segments whose engine is \
            `interpolate`.

            The output size is the first keyframe's unless --width and --height are given; a \
            keyframe of another size is scaled with a Lanczos filter to cover the frame and \
            centre-cropped (--fit crop) or scaled to fit and padded with black (--fit pad). \
            Existing frame files in --out are replaced; the folder is created if missing.

            Progress goes to standard error; at the end one line says how many frames were \
            written and how long it took (or, with --json, one JSON object on standard output: \
            frames, directory, width, height, bit_depth, seconds, frames_per_second, \
            reliable_fraction, crossfade_only and files with path, bytes and sha256).

            Exit status: 0 success; 64 usage; 65 a keyframe is not a readable image (the message \
            names the file); 66 a keyframe does not exist; 1 the frames could not be written.
            """)

    @Argument(help: ArgumentHelp("The first keyframe: a PNG or EXR file.", valueName: "start"))
    var start: String

    @Argument(help: ArgumentHelp("The last keyframe: a PNG or EXR file.", valueName: "end"))
    var end: String

    @Option(help: ArgumentHelp("Frames to write, both keyframes included (2 to 10000).", valueName: "count"))
    var frames: Int

    @Option(help: ArgumentHelp("The folder to write the frames into.", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Output width in pixels (with --height; default: the first keyframe's).", valueName: "pixels"))
    var width: Int?

    @Option(help: ArgumentHelp("Output height in pixels (with --width).", valueName: "pixels"))
    var height: Int?

    @Option(help: ArgumentHelp("How a keyframe of another aspect fits the frame: crop or pad.", valueName: "mode"))
    var fit: String = "crop"

    @Option(name: .customLong("bit-depth"), help: ArgumentHelp("Bits per sample of the PNGs written: 16 or 8.", valueName: "bits"))
    var bitDepth: Int = 16

    @Flag(help: "Print the result as one JSON object instead of a sentence.")
    var json = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (2...10_000).contains(frames) else { throw ValidationError("--frames must be between 2 and 10000") }
        guard bitDepth == 8 || bitDepth == 16 else { throw ValidationError("--bit-depth must be 8 or 16") }
        guard Resampler.Fit(rawValue: fit) != nil else { throw ValidationError("--fit must be crop or pad") }
        guard (width == nil) == (height == nil) else { throw ValidationError("--width and --height go together") }
        if let width, let height {
            guard (16...ImageLimits.maxSide).contains(width), (16...ImageLimits.maxSide).contains(height),
                  width * height <= ImageLimits.maxPixels else {
                throw ValidationError("--width and --height must each be between 16 and \(ImageLimits.maxSide)")
            }
        }
    }

    struct Report: Encodable {
        struct File: Encodable {
            var path: String
            var bytes: Int64
            var sha256: String
        }
        var frames: Int
        var directory: String
        var width: Int
        var height: Int
        var bit_depth: Int
        var seconds: Double
        var frames_per_second: Double
        var reliable_fraction: Double
        var crossfade_only: Bool
        var files: [File]
    }

    func run() throws {
        try reportingFailures {
            _ = try common.logger()
            let began = ContinuousClock.now
            let (first, last) = try Self.load(start, end)
            let size = (width ?? first.width, height ?? first.height)
            let mode = Resampler.Fit(rawValue: fit) ?? .crop
            let a = Resampler.conform(first, width: size.0, height: size.1, fit: mode)
            let b = Resampler.conform(last, width: size.0, height: size.1, fit: mode)
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch {
                throw CommandFailure("\(out): cannot create the output folder: \(error.localizedDescription)", status: ExitStatus.failure)
            }
            let console = Console.current
            var reported = -1
            let sequence = FrameSequence(start: a, end: b, count: frames, bitDepth: bitDepth)
            let output: FrameSequence.Output
            do {
                output = try sequence.write(into: out, progress: { done, total in
                    let decile = done * 10 / total
                    guard decile != reported else { return }
                    reported = decile
                    console.printError("keyfarm: interpolate: \(done)/\(total) frames")
                })
            } catch let error as ImageError {
                throw CommandFailure(error.description, status: ExitStatus.failure)
            }
            let elapsed = ContinuousClock.now - began
            let seconds = elapsed.inSeconds
            let written = output.frames
            if json {
                try printJSON(Report(frames: written.count, directory: out, width: size.0, height: size.1, bit_depth: bitDepth,
                                     seconds: seconds, frames_per_second: Double(written.count) / seconds,
                                     reliable_fraction: output.reliableFraction, crossfade_only: output.crossfadeOnly,
                                     files: written.map { Report.File(path: $0.path, bytes: $0.bytes, sha256: $0.sha256) }))
            } else {
                console.print("wrote \(written.count) frames (\(size.0)x\(size.1), \(bitDepth)-bit PNG) to \(out) in "
                              + String(format: "%.2f s (%.1f frames/s)", seconds, Double(written.count) / seconds)
                              + (output.crossfadeOnly && a != b ? "; the keyframes did not match, so the frames are a crossfade" : ""))
            }
        }
    }

    /// Reads both keyframes side by side on two cores; the first one's error wins, as if they
    /// were read in turn.
    static func load(_ first: String, _ second: String) throws -> (LinearImage, LinearImage) {
        final class Loaded: @unchecked Sendable {
            var first: Result<LinearImage, any Error>?
            var second: Result<LinearImage, any Error>?
        }
        let loaded = Loaded()
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            // Each thread sets a property of its own.
            if k == 0 { loaded.first = Result { try load(first) } } else { loaded.second = Result { try load(second) } }
        }
        return (try loaded.first!.get(), try loaded.second!.get())
    }

    /// Reads a keyframe, turning a missing file into exit 66 and an unreadable one into 65.
    static func load(_ path: String) throws -> LinearImage {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CommandFailure("\(path): no such file", status: ExitStatus.noInput)
        }
        do {
            return try ImageFile.read(path)
        } catch let error as ImageError {
            throw CommandFailure(error.description, status: ExitStatus.invalidData)
        }
    }
}
