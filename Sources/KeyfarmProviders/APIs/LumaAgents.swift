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

    /// The body of a create request.
    public static func body(_ request: VideoRequest) -> [String: Any] {
        if let source = request.reframeSource {
            // `video_reframe`: the source generation at another aspect ratio; SDR, its own length.
            var video: [String: Any] = ["resolution": request.resolution]
            if let p = request.reframePosition, p.count == 4 {
                video["source_position"] = ["x_norm": p[0], "y_norm": p[1], "w_norm": p[2], "h_norm": p[3]]
            }
            var body: [String: Any] = ["model": request.model, "type": "video_reframe", "prompt": request.prompt,
                                       "aspect_ratio": request.aspect, "source": ["generation_id": source], "video": video]
            if let tag = request.tag { body["user_id"] = tag }
            return body
        }
        var video: [String: Any] = ["duration": "\(request.seconds)s", "resolution": request.resolution]
        if !request.anchors.isEmpty {
            video["keyframes"] = request.anchors.map { frame($0.input) }
            video["keyframe_indexes"] = request.anchors.map(\.position)
        } else {
            if let start = request.start { video["start_frame"] = frame(start) }
            if let end = request.end { video["end_frame"] = frame(end) }
        }
        if request.hdr { video["hdr"] = true }
        if request.exrExport { video["exr_export"] = true }
        var body: [String: Any] = ["model": request.model, "type": "video", "prompt": request.prompt,
                                   "aspect_ratio": request.aspect, "video": video]
        // The API has no list of generations to find a create whose answer was lost in; its
        // `user_id` (an opaque tag, no personal data) ties the generation to the farm's job.
        if let tag = request.tag { body["user_id"] = tag }
        return body
    }

    private static func frame(_ input: FrameInput) -> [String: Any] {
        switch input {
        case .url(let url): ["url": url]
        case .inline(let bytes, let type): ["data": Data(bytes).base64EncodedString(), "media_type": type]
        case .generation(let id): ["generation_id": id]
        case .file(let id): ["file_id": id]
        }
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
        let body: [String: Any] = ["mime_type": mediaType, "size_bytes": bytes.count, "filename": filename, "purpose": "input"]
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

    /// A create refused for a `file_id` the account no longer has (deleted, expired, not
    /// ready): a 400, 404 or 422 whose explanation names a file that is not found, not ready,
    /// deleted or expired.
    public static func blamesFile(_ verdict: ProviderErrorClassifier.Verdict) -> Bool {
        guard let status = verdict.status, [400, 404, 422].contains(status) else { return false }
        let text = verdict.message.lowercased()
        return text.contains("file") && ["not found", "not ready", "deleted", "expired"].contains { text.contains($0) }
    }
}
