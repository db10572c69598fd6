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

    /// The fields of a create that say which generation it asked for; a listed generation's
    /// `request` with the same ones was made by the same request.
    static let identifyingFields = ["model", "prompt", "keyframes", "duration", "resolution", "aspect_ratio"]

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

extension LumaDreamMachine: GenerationListing {
    /// Pages through `GET {base}/generations?limit=100&offset=...` (newest first, as the
    /// `lumaai` SDK's `generations.list`) until the generations are older than `since`, and
    /// returns the newest whose `request` matches this one's identifying fields.
    public func findGeneration(for request: VideoRequest, since: Date) throws(ProviderErrorClassifier.Verdict) -> String? {
        let wanted = Self.identity(Self.body(request))
        let pageSize = 100
        for page in 0..<10 {
            guard case .object(let answer) = try exchange.send("GET", base + "/generations?limit=\(pageSize)&offset=\(page * pageSize)") else {
                return nil
            }
            let generations = answer["generations"] as? [[String: Any]] ?? []
            var older = false
            for generation in generations {
                if let created = (generation["created_at"] as? String).flatMap(Self.date), created < since {
                    older = true
                    continue
                }
                guard let id = generation["id"] as? String, !id.isEmpty,
                      let asked = generation["request"] as? [String: Any], Self.identity(asked) == wanted else { continue }
                return id
            }
            if older || generations.count < pageSize || answer["has_more"] as? Bool == false { return nil }
        }
        return nil
    }

    /// A request's identifying fields as canonical JSON.
    static func identity(_ body: [String: Any]) -> Data? {
        let fields = body.filter { identifyingFields.contains($0.key) }
        return try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
