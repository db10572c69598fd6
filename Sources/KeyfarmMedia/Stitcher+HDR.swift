import Foundation

extension Stitcher {
    /// MaxCLL and MaxFALL (ANSI/CTA-861.3) of an HDR shot's HDR10 master, in cd/m2: the
    /// brightest pixel of any frame and the brightest frame average, each pixel taken at its
    /// largest channel, as the master will code them (1.0 at 203 cd/m2, at most the peak).
    struct LightLevels: Equatable {
        var maxCLL: Int
        var maxFALL: Int
    }

    /// A first pass over the shot, reading every frame as the stitch will, to measure its light levels.
    func lightLevels(_ request: StitchRequest, timeline: StitchTimeline, isCancelled: () -> Bool) throws -> LightLevels {
        let readers = request.pieces.map {
            PieceReader(piece: $0, width: request.width, height: request.height, ffmpeg: ffmpeg, ffprobe: ffprobe)
        }
        let toHDR10 = Primaries.ap0.matrix(to: .rec2020)
        var brightest: Float = 0, brightestFrame: Float = 0
        for contributions in timeline.frames {
            if isCancelled() { throw Cancelled() }
            var linear: LinearImage?
            for contribution in contributions {
                let picture = try readers[contribution.piece].linearFrame(local: contribution.local)
                linear = linear.map { LinearImage.mix($0, picture, weight: Float(contribution.weight)) } ?? picture
            }
            guard let linear else { continue }
            let levels = linear.converted(toHDR10).hdr10Samples()
            brightest = max(brightest, levels.maxNits)
            brightestFrame = max(brightestFrame, levels.meanNits)
        }
        return LightLevels(maxCLL: Int(brightest.rounded()), maxFALL: Int(brightestFrame.rounded()))
    }
}
