import Foundation
import KeyfarmProcess
import KeyfarmProviders
import Logging

/// What one fake generation must look like: its size, length and the frames it starts and ends on.
struct VideoSpec: Sendable, Equatable {
    var width: Int
    var height: Int
    var seconds: Int
    var start: FrameSource?
    var end: FrameSource?
    /// Luma Agents' `keyframes` at their `keyframe_indexes`, by position.
    var anchors: [Anchor] = []
    var hdr = false
    var exrExport = false
    /// A `video_reframe`: the source clip, and where it sits in the new frame ([x, y, w, h]
    /// normalized; nil: fitted and centred).
    var reframeSource: String? = nil
    var reframePosition: [Double]? = nil
    /// How the clip moves from one keyframe to the next (an ffmpeg `xfade` transition). The
    /// fake gives each generation the next one in turn, as a real model never renders the same
    /// clip twice: a retake of the same request looks different between its keyframes (ten
    /// generations in a row always differ), never on them.
    var transition = "fade"

    /// The transitions generations are given, in turn.
    static let transitions = ["fade", "dissolve", "wipeleft", "wiperight", "smoothleft", "smoothright", "circleopen",
                              "radial", "slideup", "diagtl"]

    /// An image pinned at a position of the 24 fps grid.
    struct Anchor: Sendable, Equatable {
        var source: FrameSource
        var position: Int
    }

    static let framesPerSecond = 24

    /// How many frames the rendered clip has: a keyframe clip has every point of its grid
    /// (0 through seconds x 24), so that a keyframe at the last index is a frame of it.
    var frameCount: Int { seconds * Self.framesPerSecond + (anchors.isEmpty ? 0 : 1) }

    /// The frame size for a height in lines and an aspect ratio such as "16:9", rounded to even
    /// numbers as libx264's 4:2:0 needs.
    static func frameSize(height: Int, aspectRatio: String) -> (width: Int, height: Int)? {
        let parts = aspectRatio.split(separator: ":")
        guard parts.count == 2, let across = Double(parts[0]), let down = Double(parts[1]), across > 0, down > 0 else {
            return nil
        }
        // Portrait clips keep the resolution's number on their short side too.
        if across >= down {
            return (even(Double(height) * across / down), even(Double(height)))
        }
        return (even(Double(height)), even(Double(height) * down / across))
    }

    private static func even(_ value: Double) -> Int { max(2, Int((value / 2).rounded()) * 2) }
}

/// Where a keyframe comes from: an image URL to fetch, image bytes sent inline, or a frame of a
/// clip this fake rendered.
enum FrameSource: Sendable, Equatable {
    case imageURL(String)
    /// A PNG or JPEG sent in the request (Luma Agents' `data`, WaveSpeed's data URIs), already checked.
    case imageData(Data)
    /// The first or last frame of an earlier generation's video (Luma's `{type: generation}`).
    case videoFrame(path: String, last: Bool)
}

/// A rendered clip on disk.
struct RenderedVideo: Sendable, Equatable {
    var path: String
    var bytes: Int
    /// With `hdr` and `exr_export`: the zip of the clip's HDR frames, as EXR.
    var exrArchive: String? = nil
}

/// Renders the fake's videos: fetches the keyframe images with `HTTPClient` and runs ffmpeg
/// (H.264, 24 fps) to fade from the first keyframe to the last. Blocking: call it on its own
/// thread, never on the cooperative pool.
struct FakeVideoRenderer: Sendable {
    var ffmpeg = "/usr/bin/ffmpeg"
    var directory: String
    var logger: Logger

    /// Renders `spec` to `<directory>/<id>.mp4`; the failure is a reason fit for `failure_reason`.
    func render(_ spec: VideoSpec, id: String) -> Result<RenderedVideo, RenderFailure> {
        var inputs: [String] = []
        var scratch: [String] = []
        defer { for path in scratch { unlink(path) } }
        let sources = spec.anchors.isEmpty ? [spec.start, spec.end] : spec.anchors.map(\.source)
        for (index, source) in sources.enumerated() {
            guard let source else { continue }
            let frame = "\(directory)/\(id)-frame\(index).img"
            scratch.append(frame)
            switch fetch(source, to: frame) {
            case .success: inputs.append(frame)
            case .failure(let failure): return .failure(failure)
            }
        }

        let output = "\(directory)/\(id).mp4"
        let partial = "\(directory)/.\(id).mp4.part"
        scratch.append(partial)
        let arguments = spec.reframeSource.map { Self.reframeArguments(spec, source: $0, output: partial) }
            ?? Self.ffmpegArguments(spec, inputs: inputs, output: partial)
        do {
            let outcome = try ChildProcess(executable: ffmpeg, arguments: arguments, environment: [:]).run()
            guard outcome.status == 0 else {
                logger.warning("ffmpeg failed", metadata: ["generation.id": "\(id)", "ffmpeg.output": "\(outcome.tail(5))"])
                return .failure(RenderFailure(reason: "Failed to generate video: the keyframes could not be rendered"))
            }
        } catch {
            return .failure(RenderFailure(reason: "Failed to generate video: \(error)"))
        }
        guard rename(partial, output) == 0 else {
            return .failure(RenderFailure(reason: "Failed to generate video: cannot store the clip"))
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        var video = RenderedVideo(path: output, bytes: bytes)
        if spec.hdr && spec.exrExport {
            switch exportEXR(spec, video: output, id: id) {
            case .success(let archive): video.exrArchive = archive
            case .failure(let failure): unlink(output); return .failure(failure)
            }
        }
        return .success(video)
    }

    private func fetch(_ source: FrameSource, to path: String) -> Result<Void, RenderFailure> {
        switch source {
        case .imageURL(let url):
            do {
                let client = try HTTPClient(limits: .init(connectTimeout: .seconds(5), totalTimeout: .seconds(30),
                                                          maxDownloadBytes: 64 << 20), logger: logger)
                _ = try client.download(url, to: path)
                return .success(())
            } catch {
                // As the real API does, the generation fails rather than the request.
                return .failure(RenderFailure(reason: "Failed to download keyframe image from \(HTTPError.redacted(url)): \(error)",
                                              cause: .imageFetch))
            }
        case .imageData(let bytes):
            guard FileManager.default.createFile(atPath: path, contents: bytes) else {
                return .failure(RenderFailure(reason: "Failed to generate video: cannot store the keyframe image"))
            }
            return .success(())
        case .videoFrame(let video, let last):
            var arguments = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
            // The last frame: the last second reversed, so only that frame is written.
            arguments += last ? ["-sseof", "-1", "-i", video, "-vf", "reverse", "-frames:v", "1"] : ["-i", video, "-frames:v", "1"]
            arguments += ["-f", "image2", "-c:v", "png", path]
            let outcome = try? ChildProcess(executable: ffmpeg, arguments: arguments, environment: [:]).run()
            guard outcome?.status == 0 else {
                return .failure(RenderFailure(reason: "Failed to read the keyframe generation's video"))
            }
            return .success(())
        }
    }

    /// ffmpeg's command line: one still held for the clip, or a fade between two stills whose
    /// first frame is exactly the first image and whose last frame is exactly the second.
    static func ffmpegArguments(_ spec: VideoSpec, inputs: [String], output: String) -> [String] {
        let fps = VideoSpec.framesPerSecond
        let (width, height) = (spec.width, spec.height)
        // Each still is decoded and scaled once, then repeated for the clip's length (seconds + 1
        // at the frame rate): looping the input instead decodes and scales it for every frame.
        let still = (spec.seconds + 1) * fps
        let prepare = "scale=\(width):\(height):force_original_aspect_ratio=decrease,"
            + "pad=\(width):\(height):(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p,"
            + "loop=loop=\(still - 1):size=1:start=0,setpts=N/\(fps)/TB"
        var arguments = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        let filter: String
        if spec.anchors.count >= 2 {
            for input in inputs { arguments += ["-i", input] }
            filter = anchorFilter(spec.anchors.map(\.position), frameCount: spec.frameCount, prepare: prepare,
                                  transition: spec.transition)
        } else { switch inputs.count {
        case 0:
            arguments += ["-f", "lavfi", "-i", "color=c=0x2f4f6f:s=\(width)x\(height):r=\(fps)"]
            filter = "[0:v]format=yuv420p[v]"
        case 1:
            arguments += ["-i", inputs[0]]
            filter = "[0:v]\(prepare)[v]"
        default:
            for input in inputs.prefix(2) { arguments += ["-i", input] }
            // Hold the first image for frame 0, fade until the last frame shows only the second.
            let offset = 1.0 / Double(fps)
            let fade = Double(spec.frameCount - 2) / Double(fps)
            filter = "[0:v]\(prepare)[a];[1:v]\(prepare)[b];"
                + "[a][b]xfade=transition=\(spec.transition):duration=\(String(format: "%.6f", fade)):offset=\(String(format: "%.6f", offset))[v]"
        } }
        arguments += ["-filter_complex", filter, "-map", "[v]", "-frames:v", "\(spec.frameCount)", "-r", "\(fps)",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                      "-an", "-f", "mp4", output]
        return arguments
    }
}

extension FakeVideoRenderer {
    /// ffmpeg's command line for a reframe: the source clip, every frame of it, placed on a
    /// dark canvas of the new size (fitted and centred, or at the normalized rectangle), as
    /// Luma's reframe outpaints around the source.
    static func reframeArguments(_ spec: VideoSpec, source: String, output: String) -> [String] {
        let (width, height) = (spec.width, spec.height)
        let place: String
        if let p = spec.reframePosition, p.count == 4 {
            let w = max(2, Int((p[2] * Double(width) / 2).rounded()) * 2), h = max(2, Int((p[3] * Double(height) / 2).rounded()) * 2)
            place = "[0:v]scale=\(w):\(h),setsar=1[fg];[bg][fg]overlay=x=\(Int(p[0] * Double(width))):y=\(Int(p[1] * Double(height))):shortest=1"
        } else {
            place = "[0:v]scale=\(width):\(height):force_original_aspect_ratio=decrease,setsar=1[fg];[bg][fg]overlay=x=(W-w)/2:y=(H-h)/2:shortest=1"
        }
        let filter = "color=c=0x1a1a1a:s=\(width)x\(height):r=\(VideoSpec.framesPerSecond)[bg];" + place + ",format=yuv420p[v]"
        return ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", source, "-filter_complex", filter, "-map", "[v]",
                "-r", "\(VideoSpec.framesPerSecond)", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", "-an", "-f", "mp4", output]
    }

    /// A filter graph that shows input i exactly at grid position `positions[i]` and fades
    /// between neighbours: the first image held before its position, the last after its own.
    static func anchorFilter(_ positions: [Int], frameCount: Int, prepare: String, transition: String = "fade") -> String {
        let k = positions.count
        // Each image feeds: a hold before the first position (image 0), the piece it starts,
        // the piece it ends, and a hold after the last position (image k-1).
        var uses = [[String]](repeating: [], count: k)
        var pieces: [String] = []
        var graph: [String] = []
        if positions[0] > 0 {
            uses[0].append("h0")
            pieces.append("[h0o]")
            graph.append("[h0]trim=end_frame=\(positions[0]),setpts=PTS-STARTPTS[h0o]")
        }
        for j in 0..<(k - 1) {
            let n = positions[j + 1] - positions[j]
            if n <= 1 {
                uses[j].append("a\(j)")
                graph.append("[a\(j)]trim=end_frame=\(n),setpts=PTS-STARTPTS[p\(j)]")
            } else {
                uses[j].append("a\(j)")
                uses[j + 1].append("b\(j)")
                let fade = String(format: "%.6f", Double(n - 1) / 24), offset = String(format: "%.6f", 1.0 / 24)
                graph.append("[a\(j)][b\(j)]xfade=transition=\(transition):duration=\(fade):offset=\(offset),trim=end_frame=\(n),setpts=PTS-STARTPTS[p\(j)]")
            }
            pieces.append("[p\(j)]")
        }
        let tail = max(1, frameCount - positions[k - 1])
        uses[k - 1].append("t")
        graph.append("[t]trim=end_frame=\(tail),setpts=PTS-STARTPTS[to]")
        pieces.append("[to]")
        var split: [String] = []
        for (i, names) in uses.enumerated() where !names.isEmpty {
            split.append("[\(i):v]\(prepare),split=\(names.count)" + names.map { "[\($0)]" }.joined())
        }
        return (split + graph).joined(separator: ";") + ";" + pieces.joined() + "concat=n=\(pieces.count):v=1:a=0[v]"
    }
}

/// Why a generation failed, worded as the provider's `failure_reason`.
struct RenderFailure: Error, Sendable, Equatable {
    /// What went wrong, for the APIs that name it with a code (Luma Agents' `failure_code`).
    enum Cause: Sendable, Equatable {
        /// A keyframe URL could not be fetched.
        case imageFetch
        /// ffmpeg or the clip's storage failed.
        case render
        /// A `fail_generation` fault.
        case forced
    }

    var reason: String
    var cause: Cause = .render
}
