import Foundation
import KeyfarmMedia
import KeyfarmProcess

extension FakeVideoRenderer {
    /// The EXR export of an HDR generation, as Luma describes it: half-float, DWAB-compressed,
    /// scene-linear ACES2065-1 (AP0) frames, one per frame of the clip, in a zip. The fake
    /// makes them from its SDR clip: each frame decoded to linear Rec.709, its highlights
    /// expanded (x * (1 + 5 x^4): white becomes 6.0, mid-grey stays near 0.2), then taken
    /// to AP0. Returns the archive's path.
    func exportEXR(_ spec: VideoSpec, video: String, id: String) -> Result<String, RenderFailure> {
        let folder = "\(directory)/.\(id)-exr"
        let archive = "\(directory)/\(id).exr.zip"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let decoder = try PipedProcess(executable: ffmpeg, arguments: [
                "-hide_banner", "-nostdin", "-v", "error", "-i", video, "-map", "0:v:0", "-fps_mode", "passthrough",
                "-pix_fmt", "rgb48le", "-f", "rawvideo", "pipe:1",
            ], stream: .output)
            let toAP0 = Primaries.rec709.matrix(to: .ap0)
            var samples = [UInt16](repeating: 0, count: spec.width * spec.height * 3)
            var index = 0
            while true {
                let count = try samples.withUnsafeMutableBytes { try decoder.read(into: $0) }
                guard count == samples.count * 2 else { break }
                let frame = VideoFrame(width: spec.width, height: spec.height, samples: samples).linear
                let expanded = LinearImage(width: frame.width, height: frame.height, pixels: frame.pixels.map { x in
                    x * (1 + 5 * x * x * x * x)
                }).converted(toAP0)
                try EXRCodec.write(expanded, path: String(format: "%@/frame_%04d.exr", folder, index), compression: "dwab",
                                   primaries: .ap0)
                index += 1
            }
            let outcome = try decoder.finish()
            guard outcome.status == 0, index > 0 else {
                return .failure(RenderFailure(reason: "Failed to export EXR: the clip could not be decoded"))
            }
            // Stored, not deflated: DWAB frames do not compress further.
            let zip = try ChildProcess(executable: "/usr/bin/zip", arguments: ["-q", "-0", "-j", "-r", archive, folder],
                                       environment: [:]).run()
            guard zip.status == 0 else {
                return .failure(RenderFailure(reason: "Failed to export EXR: cannot write the archive (\(zip.tail(2)))"))
            }
            return .success(archive)
        } catch {
            return .failure(RenderFailure(reason: "Failed to export EXR: \(error)"))
        }
    }
}
