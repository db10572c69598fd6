import Foundation

/// One source of an output frame, as `manifest.json` records it.
struct ManifestSource: Encodable {
    var job: String
    var segment: Int
    var part: Int
    /// The take of its segment the frame is from.
    var take: Int
    var attempt: Int?
    var engine: String
    var provider: String?
    var provider_request_id: String?
    /// The artifact the frame came from (relative to the storage root) and its checksum.
    var artifact: String
    var sha256: String
    /// The frame's position in that artifact: a PNG sequence's index, or a video's frame
    /// (fractional when two frames were blended to retime it).
    var source_frame: Double
    /// Its share of the output frame: 1, or less inside a seam crossfade.
    var weight: Double

    init(reader: PieceReader, local: Int, weight: Double) throws {
        let piece = reader.piece
        job = piece.key
        segment = piece.segmentIndex
        part = piece.part
        take = piece.take
        attempt = piece.attempt
        engine = piece.engine
        provider = piece.provider
        provider_request_id = piece.requestID
        let (first, second, blend) = try reader.sourceFrames(local: local)
        source_frame = ((Double(first) + (Double(second) - Double(first)) * blend) * 1_000_000).rounded() / 1_000_000
        self.weight = (weight * 1_000_000).rounded() / 1_000_000
        switch piece.source {
        case .frames(let files), .exrFrames(let files):
            artifact = files[first].artifact
            sha256 = files[first].sha256
        case .video(let file):
            artifact = file.artifact
            sha256 = file.sha256
        }
    }
}

/// One output frame: where it came from.
struct ManifestFrame: Encodable {
    var frame: Int
    var sources: [ManifestSource]
}

/// `manifest.json`: the shot, its deliverables, and for every frame its segment, attempt,
/// engine, provider request id and the checksum of its source artifact.
struct Manifest: Encodable {
    var format = "keyfarm.stitch.manifest/1"
    var shot: String
    var labels: [String: String]
    var width: Int
    var height: Int
    var fps: String
    var frames: Int
    var seam: Int
    var outputs: [StitchOutput]
    var segments: [Segment]
    var frame_sources: [ManifestFrame]

    struct Segment: Encodable {
        var job: String
        var segment: Int
        var part: Int
        var take: Int
        var start_frame: Int
        var end_frame: Int
        var engine: String
        var attempt: Int?
        var provider: String?
        var provider_request_id: String?
    }

    init(request: StitchRequest, outputs: [StitchOutput], frames: [ManifestFrame]) {
        shot = request.shot
        labels = request.labels
        width = request.width
        height = request.height
        fps = request.frameRate
        self.frames = request.frameCount
        seam = request.seam
        self.outputs = outputs
        segments = request.pieces.map {
            Segment(job: $0.key, segment: $0.segmentIndex, part: $0.part, take: $0.take, start_frame: $0.startFrame,
                    end_frame: $0.endFrame,
                    engine: $0.engine, attempt: $0.attempt, provider: $0.provider, provider_request_id: $0.requestID)
        }
        frame_sources = frames
    }

    func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }
}
