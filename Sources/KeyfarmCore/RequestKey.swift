import Crypto
import Foundation

/// The identity of what a job asks an engine for: a SHA-256 over its canonical request, so
/// that a job asking exactly what an earlier, succeeded job asked can take that job's artifacts
/// instead of paying for the same generation again.
///
/// The request covers everything that decides the artifacts: the engine, the prompt as sent,
/// each image by its content (a file's SHA-256, a URL as written, or, for a continuity frame,
/// the request key of the job it continues from, whose own key covers where its clip is cut),
/// positions, resolution, aspect, clip length, HDR and EXR flags, the model's input mapping, a
/// take's number and seed, and this recipe's version. A stitch's key covers its pieces' keys
/// and frame ranges and its deliverables, so an unchanged shot's key is unchanged too. It
/// leaves out what does not change the picture: priority, attempts, job keys, estimates.
public enum RequestKey {
    /// Raise it when the recipe changes: keys of different recipes never match.
    public static let recipe = 1

    /// Each job's key, by job key, for every job of a planned shot (stitches included).
    static func keys(of planned: PlannedShot) -> [String: String] {
        var keys: [String: String] = [:]
        for job in planned.jobs { keys[job.key] = key(of: job, in: planned, known: keys) }
        return keys
    }

    /// The key of `job`, given the keys of the jobs before it (a job never precedes one it
    /// depends on, so each continuity frame's source is known by then).
    static func key(of job: PlannedJob, in planned: PlannedShot, known keys: [String: String]) -> String {
        let shot = planned.shot
        var request = Request(recipe: recipe, kind: job.kind == .stitch ? "stitch" : (job.reframe == nil ? "generate" : "reframe"),
                              resolution: (job.resolution ?? shot.resolution).rawValue,
                              aspect: (job.reframe?.aspect ?? shot.aspect).rawValue)
        func image(_ source: ImageSource) -> Request.Image? {
            switch source {
            case .none: nil
            case .file(let path): shot.imageHashes[path].map { Request.Image(sha256: $0) } ?? Request.Image(path: path)
            case .url(let url): Request.Image(url: url)
            case .lastFrameOf(let source): Request.Image(continues: keys[source] ?? "job " + source)
            }
        }
        if job.kind == .stitch {
            request.frames = planned.frames
            request.fps = shot.fps.description
            request.outputs = shot.outputs.map(\.rawValue)
            request.seam = shot.seam
            request.hdr = shot.hdr
            request.exrColorspace = shot.exrColorspaceResolved.rawValue
            // A draft's deliverables go to a folder of their own.
            request.draft = shot.draft ? true : nil
            request.pieces = planned.segments.flatMap(\.jobs).map { piece in
                Request.Piece(key: keys[piece.key] ?? "job " + piece.key, startFrame: piece.startFrame,
                              endFrame: piece.endFrame, endPosition: piece.endPosition,
                              reframedBy: job.reframe?.reframedBy[piece.key].map { keys[$0] ?? "job " + $0 })
            }
        } else {
            request.engine = job.engine?.name
            // Local interpolation reads no prompt: rewording one changes nothing it renders.
            if job.engine?.provider != nil { request.prompt = job.prompt }
            request.start = image(job.startImage)
            request.end = image(job.endImage)
            request.anchors = job.engine?.takesManyKeyframes == true
                ? job.anchors.map { Request.Anchor(position: $0.position, image: image($0.image)) } : nil
            request.endPosition = job.endPosition
            request.bucket = job.durationBucket
            // A local engine renders exactly the frames it covers; a provider's clip is retimed when stitched.
            if job.engine?.provider == nil { request.frames = job.frames }
            request.hdr = job.hdr
            request.exrExport = job.exrExport
            request.modelInputs = job.modelInputs
            if let source = job.reframe?.source { request.source = keys[source] ?? "job " + source }
        }
        if let reframe = job.reframe {
            switch reframe.position {
            case .center: request.position = "center"
            case .rect(let x, let y, let w, let h): request.position = "\(x),\(y),\(w),\(h)"
            }
        }
        request.take = job.take > 1 ? job.take : nil
        request.seed = job.seed
        return hash(request)
    }

    /// The key of another take of a generation whose key is `base`: the same request with its
    /// own take number, and the prompt and seed it was given (nil: the base's).
    public static func retake(of base: String, take: Int, prompt: String?, seed: Int64?) -> String {
        derived(["recipe": "\(recipe)", "retake_of": base, "take": "\(take)", "prompt": prompt, "seed": seed.map { "\($0)" }])
    }

    /// The key of a generation whose key was `base` once it continues from the generation keyed
    /// `source` instead (another take was selected before it).
    public static func continuation(of base: String, from source: String) -> String {
        derived(["recipe": "\(recipe)", "continues": base, "from": source])
    }

    /// The key of a stitch whose key was `base` once the piece keyed `old` is replaced by the
    /// one keyed `new` (another take was selected).
    public static func restitch(of base: String, replacing old: String, with new: String) -> String {
        derived(["recipe": "\(recipe)", "restitch": base, "old": old, "new": new])
    }

    static func derived(_ fields: [String: String?]) -> String { hash(fields.compactMapValues { $0 }) }

    /// The SHA-256 (lower-case hex) of a value's canonical JSON: sorted keys, absent fields left out.
    static func hash(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings, numbers and nested structs only: encoding cannot fail.
        let canonical = try! encoder.encode(value)
        return SHA256.hash(data: canonical).map { String(format: "%02x", $0) }.joined()
    }

    /// The canonical request: sorted keys, absent fields left out.
    struct Request: Encodable {
        struct Image: Encodable {
            var sha256: String?
            var url: String?
            var path: String?
            var continues: String?
        }
        struct Anchor: Encodable {
            var position: Int
            var image: Image?
        }
        struct Piece: Encodable {
            var key: String
            var startFrame: Int
            var endFrame: Int
            var endPosition: Int?
            var reframedBy: String?
        }
        var recipe: Int
        var kind: String
        var resolution: String
        var aspect: String
        var engine: String?
        var prompt: String?
        var start: Image?
        var end: Image?
        var anchors: [Anchor]?
        var endPosition: Int?
        var bucket: Int?
        var frames: Int?
        var fps: String?
        var hdr: Bool?
        var exrExport: Bool?
        var exrColorspace: String?
        var modelInputs: ModelInputs?
        var source: String?
        var position: String?
        var outputs: [String]?
        var seam: Int?
        var pieces: [Piece]?
        var take: Int?
        var seed: Int64?
        var draft: Bool?
    }
}
