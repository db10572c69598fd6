import Foundation

/// Luma's Agents API (`ray-3.2`), as the official `luma-agents` SDK describes it:
/// `POST {base}/generations` with top-level `model`, `type: video`, `prompt`, `aspect_ratio`
/// and a `video` object holding `duration` (`5s`, `10s`), `resolution`, `hdr`, `exr_export` and
/// either `keyframes` + `keyframe_indexes` (1 to 64 images on the clip's 24 fps grid: 0..120
/// for 5 s, 0..240 for 10 s; needed for 10 s and HDR) or the legacy `start_frame` /
/// `end_frame`. An image is exactly one of `{url}`, `{data, media_type}`, `{generation_id}`,
/// `{file_id}`. `GET {base}/generations/{id}` goes queued, processing, then completed
/// (`output: [{type, url}]`, presigned for an hour) or failed (`failure_code`, `failure_reason`).
public struct LumaAgents: VideoAPI {
    let base: String
    let exchange: JSONExchange

    public init(base: String, key: Secret, client: HTTPClient) {
        self.base = base
        exchange = JSONExchange(client: client, provider: .luma, headers: [("Authorization", "Bearer \(key.reveal())")])
    }

    public var provider: Provider { .luma }
    public var api: String { "luma-agents" }
    public var frameKinds: FrameKinds { [.url, .inline, .generation, .file] }

    /// The body of a create request, as the `luma-agents` SDK's `generations.create` sends it.
    public struct Body: Encodable, Sendable, Equatable {
        public var model: String
        /// `video`, or `video_reframe` (with `source`).
        public var type: String
        public var prompt: String
        public var aspectRatio: String
        public var video: Video
        /// A reframe's source generation: `{"generation_id"}`.
        public var source: Source?
        /// An opaque tag naming the farm's job (no personal data).
        public var userID: String?

        enum CodingKeys: String, CodingKey {
            case model, type, prompt, aspectRatio = "aspect_ratio", video, source, userID = "user_id"
        }
    }

    /// The `video` object: the clip's length and resolution, its keyframes, HDR, and a reframe's placement.
    public struct Video: Encodable, Sendable, Equatable {
        /// `5s` or `10s`; absent for a reframe, which keeps its source's length.
        public var duration: String?
        public var resolution: String
        /// 1 to 64 images, at `keyframeIndexes` on the clip's 24 fps grid.
        public var keyframes: [Frame]?
        public var keyframeIndexes: [Int]?
        /// The legacy pair (5 s, SDR only), when there are no `keyframes`.
        public var startFrame: Frame?
        public var endFrame: Frame?
        /// True or absent.
        public var hdr: Bool?
        public var exrExport: Bool?
        public var sourcePosition: SourcePosition?

        enum CodingKeys: String, CodingKey {
            case duration, resolution, keyframes, keyframeIndexes = "keyframe_indexes", startFrame = "start_frame"
            case endFrame = "end_frame", hdr, exrExport = "exr_export", sourcePosition = "source_position"
        }
    }

    /// An image: exactly one of `{url}`, `{data, media_type}`, `{generation_id}`, `{file_id}`.
    public enum Frame: Encodable, Sendable, Equatable {
        case url(String)
        /// Base64 data and its media type.
        case data(String, mediaType: String)
        case generation(id: String)
        case file(id: String)

        init(_ input: FrameInput) {
            switch input {
            case .url(let url): self = .url(url)
            case .inline(let bytes, let type): self = .data(Data(bytes).base64EncodedString(), mediaType: type)
            case .generation(let id): self = .generation(id: id)
            case .file(let id): self = .file(id: id)
            }
        }

        enum CodingKeys: String, CodingKey { case url, data, mediaType = "media_type", generationID = "generation_id", fileID = "file_id" }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .url(let url): try c.encode(url, forKey: .url)
            case .data(let data, let type):
                try c.encode(data, forKey: .data)
                try c.encode(type, forKey: .mediaType)
            case .generation(let id): try c.encode(id, forKey: .generationID)
            case .file(let id): try c.encode(id, forKey: .fileID)
            }
        }
    }

    public struct Source: Encodable, Sendable, Equatable {
        public var generationID: String

        enum CodingKeys: String, CodingKey { case generationID = "generation_id" }
    }

    /// Where the source sits in the reframed picture, in its normalized coordinates.
    public struct SourcePosition: Encodable, Sendable, Equatable {
        public var x: Double
        public var y: Double
        public var w: Double
        public var h: Double

        enum CodingKeys: String, CodingKey { case x = "x_norm", y = "y_norm", w = "w_norm", h = "h_norm" }
    }

    /// The body of a create request.
    public static func body(_ request: VideoRequest) -> Body {
        if let source = request.reframeSource {
            // `video_reframe`: the source generation at another aspect ratio; SDR, its own length.
            var video = Video(resolution: request.resolution)
            if let p = request.reframePosition, p.count == 4 {
                video.sourcePosition = SourcePosition(x: p[0], y: p[1], w: p[2], h: p[3])
            }
            return Body(model: request.model, type: "video_reframe", prompt: request.prompt, aspectRatio: request.aspect,
                        video: video, source: Source(generationID: source), userID: request.tag)
        }
        var video = Video(duration: "\(request.seconds)s", resolution: request.resolution)
        if !request.anchors.isEmpty {
            video.keyframes = request.anchors.map { Frame($0.input) }
            video.keyframeIndexes = request.anchors.map(\.position)
        } else {
            video.startFrame = request.start.map(Frame.init)
            video.endFrame = request.end.map(Frame.init)
        }
        if request.hdr { video.hdr = true }
        if request.exrExport { video.exrExport = true }
        // The API has no list of generations to find a create whose answer was lost in; its
        // `user_id` (an opaque tag, no personal data) ties the generation to the farm's job.
        return Body(model: request.model, type: "video", prompt: request.prompt, aspectRatio: request.aspect,
                    video: video, userID: request.tag)
    }

    /// What a `failure_code` means for the job: whether asking again can help. The SDK's
    /// codes: `content_moderated`, `generation_failed`, `budget_exhausted`, `output_not_found`,
    /// `image_too_large`, `unsupported_format`, `corrupt_input`, `invalid_request`, `rate_limited`.
    public static func isTerminal(failureCode code: String?, reason: String) -> Bool {
        switch code {
        case "content_moderated", "budget_exhausted", "image_too_large", "unsupported_format", "corrupt_input",
             "invalid_request":
            true
        case "generation_failed", "output_not_found", "rate_limited":
            false
        default:
            JSONExchange.isModeration(reason)
        }
    }

    public func submit(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> String {
        try exchange.create(base + "/generations", body: Self.body(request), idPath: "id")
    }

    public func status(of id: String) throws(ProviderErrorClassifier.Verdict) -> GenerationStatus? {
        guard let answer = try exchange.poll(base + "/generations/\(id)") else { return nil }
        let state = try exchange.string(answer, "state")
        switch state {
        case "completed":
            let outputs = answer["output"] as? [[String: Any]] ?? []
            guard let url = (outputs.first { ($0["type"] as? String ?? "video") == "video" })?["url"] as? String else {
                throw ProviderErrorClassifier.Verdict(errorClass: .transient,
                                                      message: "luma: generation \(id) is completed but lists no video output")
            }
            let exr = outputs.first { $0["type"] as? String == "exr" }?["url"] as? String
            return .completed(videoURL: url, exrURL: exr)
        case "failed":
            let code = answer["failure_code"] as? String
            let reason = answer["failure_reason"] as? String ?? code ?? "the generation failed"
            return .failed(code: code, reason: reason, terminal: Self.isTerminal(failureCode: code, reason: reason))
        default:
            return .pending(state)
        }
    }
}

/// An API that keeps uploaded files and takes them by id in generations.
public protocol FileUploading {
    /// Uploads an image and returns its file id once the provider says it is ready.
    func upload(_ bytes: [UInt8], mediaType: String, filename: String) throws(ProviderErrorClassifier.Verdict) -> String
    /// Whether a refused create blames a file reference (deleted, expired, not ready): upload again.
    static func blamesFile(_ verdict: ProviderErrorClassifier.Verdict) -> Bool
}

extension LumaAgents: FileUploading {
    /// The Files API as the SDK drives it: `POST {base}/files` (mime type, exact size, purpose
    /// `input`), `PUT` the bytes to the presigned `upload.url` with `upload.headers` (and no
    /// Luma key), `POST {base}/files/{id}/complete`, then `GET {base}/files/{id}` until `ready`.
    public func upload(_ bytes: [UInt8], mediaType: String, filename: String) throws(ProviderErrorClassifier.Verdict) -> String {
        let body = FileCreate(mimeType: mediaType, sizeBytes: bytes.count, filename: filename)
        guard case .object(let created) = try exchange.send("POST", base + "/files", body: body) else {
            throw ProviderErrorClassifier.Verdict(errorClass: .transient, message: "luma: the file create got no answer")
        }
        let id = try exchange.string(created, "id")
        let upload = created["upload"] as? [String: Any]
        guard let url = upload?["url"] as? String else {
            throw ProviderErrorClassifier.Verdict(errorClass: .transient, message: "luma: file \(id) came without an upload URL")
        }
        let headers = (upload?["headers"] as? [String: String] ?? [:]).map { ($0.key, $0.value) }
        let response: HTTPResponse
        do {
            response = try exchange.client.send(HTTPRequest(method: upload?["method"] as? String ?? "PUT", url: url,
                                                            headers: headers, body: bytes))
        } catch {
            throw ProviderErrorClassifier.classify(error, provider: "luma")
        }
        if let verdict = ProviderErrorClassifier.classify(response, provider: "luma") {
            // A refused presigned upload says nothing about the request: try again later.
            throw ProviderErrorClassifier.Verdict(errorClass: verdict.errorClass == .invalid ? .transient : verdict.errorClass,
                                                  message: "luma: uploading file \(id) failed: \(verdict.message)")
        }
        guard case .object(var file) = try exchange.send("POST", base + "/files/\(id)/complete") else {
            throw ProviderErrorClassifier.Verdict(errorClass: .transient, message: "luma: completing file \(id) got no answer")
        }
        for _ in 0..<60 {
            switch file["state"] as? String {
            case "ready": return id
            case "failed", "deleted":
                throw ProviderErrorClassifier.Verdict(
                    errorClass: .invalid, message: "luma refused file \(id): \(file["failure_reason"] as? String ?? "ingest failed")")
            default:
                Thread.sleep(forTimeInterval: 0.5)
                guard case .object(let polled) = try exchange.send("GET", base + "/files/\(id)") else { continue }
                file = polled
            }
        }
        throw ProviderErrorClassifier.Verdict(errorClass: .transient, message: "luma: file \(id) was not ready after 30 s")
    }

    /// The body of a file create: the exact size the upload will have, for the model's input.
    struct FileCreate: Encodable {
        var mimeType: String
        var sizeBytes: Int
        var filename: String
        var purpose = "input"

        enum CodingKeys: String, CodingKey { case mimeType = "mime_type", sizeBytes = "size_bytes", filename, purpose }
    }

    /// A create refused for a `file_id` the account no longer has (deleted, expired, not
    /// ready): a 400, 404 or 422 whose explanation names a file that is not found, not ready,
    /// deleted or expired.
    public static func blamesFile(_ verdict: ProviderErrorClassifier.Verdict) -> Bool {
        guard let status = verdict.status, [400, 404, 422].contains(status) else { return false }
        let text = verdict.message.lowercased()
        return text.contains("file") && ["not found", "not ready", "deleted", "expired"].contains { text.contains($0) }
    }
}
