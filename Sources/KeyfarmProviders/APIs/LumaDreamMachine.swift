import Foundation

/// Luma's Dream Machine API (`ray-2`, `ray-flash-2`): `POST {base}/generations/video` with
/// `keyframes.frame0` / `frame1` as `{type: image, url}` or `{type: generation, id}`, and
/// `GET {base}/generations/{id}` through queued, dreaming, completed (video at
/// `assets.video`) or failed (`failure_reason`). Durations `5s` and `9s`.
public struct LumaDreamMachine: VideoAPI {
    let base: String
    let exchange: JSONExchange

    public init(base: String, key: Secret, client: HTTPClient) {
        self.base = base
        exchange = JSONExchange(client: client, provider: .luma, headers: [("Authorization", "Bearer \(key.reveal())")])
    }

    public var provider: Provider { .luma }
    public var api: String { "luma-dream-machine" }
    public var frameKinds: FrameKinds { [.url, .generation] }

    /// The body of a create request.
    public static func body(_ request: VideoRequest) -> [String: Any] {
        var body: [String: Any] = [
            "generation_type": "video", "model": request.model, "prompt": request.prompt,
            "resolution": request.resolution, "aspect_ratio": request.aspect, "duration": "\(request.seconds)s",
            "loop": false,
        ]
        var keyframes: [String: Any] = [:]
        if let start = request.start { keyframes["frame0"] = frame(start) }
        if let end = request.end { keyframes["frame1"] = frame(end) }
        if !keyframes.isEmpty { body["keyframes"] = keyframes }
        return body
    }

    private static func frame(_ input: FrameInput) -> [String: Any] {
        switch input {
        case .url(let url): ["type": "image", "url": url]
        case .generation(let id): ["type": "generation", "id": id]
        case .inline, .file: [:]  // not in frameKinds; the engine never sends them
        }
    }

    public func submit(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> String {
        try exchange.create(base + "/generations/video", body: Self.body(request), idPath: "id")
    }

    public func status(of id: String) throws(ProviderErrorClassifier.Verdict) -> GenerationStatus? {
        guard let answer = try exchange.poll(base + "/generations/\(id)") else { return nil }
        let state = try exchange.string(answer, "state")
        switch state {
        case "completed":
            return .completed(videoURL: try exchange.string(answer, "assets", "video"))
        case "failed":
            let reason = answer["failure_reason"] as? String ?? "the generation failed"
            return .failed(code: nil, reason: reason, terminal: JSONExchange.isModeration(reason))
        default:
            return .pending(state)
        }
    }
}
