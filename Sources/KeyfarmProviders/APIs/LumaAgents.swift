import Foundation

/// Luma's Agents API (`ray-3.2`): `POST {base}/generations` with `type: video` and a `video`
/// object whose `start_frame` / `end_frame` are `{url}`, inline `{data, media_type}` or
/// `{generation_id}`; `GET {base}/generations/{id}` through queued, processing, completed
/// (`output[0].url`) or failed (`failure_code`, `failure_reason`). Durations `5s` and `10s`.
public struct LumaAgents: VideoAPI {
    let base: String
    let exchange: JSONExchange

    public init(base: String, key: Secret, client: HTTPClient) {
        self.base = base
        exchange = JSONExchange(client: client, provider: .luma, headers: [("Authorization", "Bearer \(key.reveal())")])
    }

    public var provider: Provider { .luma }
    public var api: String { "luma-agents" }
    public var frameKinds: FrameKinds { [.url, .inline, .generation] }

    /// The body of a create request.
    public static func body(_ request: VideoRequest) -> [String: Any] {
        var video: [String: Any] = [
            "duration": "\(request.seconds)s", "resolution": request.resolution, "aspect_ratio": request.aspect,
        ]
        if let start = request.start { video["start_frame"] = frame(start) }
        if let end = request.end { video["end_frame"] = frame(end) }
        return ["model": request.model, "type": "video", "prompt": request.prompt, "video": video]
    }

    private static func frame(_ input: FrameInput) -> [String: Any] {
        switch input {
        case .url(let url): ["url": url]
        case .inline(let bytes, let type): ["data": Data(bytes).base64EncodedString(), "media_type": type]
        case .generation(let id): ["generation_id": id]
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
            return .completed(videoURL: url)
        case "failed":
            let code = answer["failure_code"] as? String
            let reason = answer["failure_reason"] as? String ?? code ?? "the generation failed"
            let terminal = code == "moderation_blocked" || JSONExchange.isModeration(reason)
            return .failed(code: code, reason: reason, terminal: terminal)
        default:
            return .pending(state)
        }
    }
}
