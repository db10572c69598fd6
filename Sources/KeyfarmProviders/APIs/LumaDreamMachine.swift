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

    /// The body of a create request, as the `lumaai` SDK's `generations.video.create` sends it.
    public struct Body: Encodable, Sendable, Equatable {
        public var generationType = "video"
        public var model: String
        public var prompt: String
        public var resolution: String
        public var aspectRatio: String
        /// `5s` or `9s`.
        public var duration: String
        public var loop = false
        /// Absent when neither end is pinned.
        public var keyframes: Keyframes?

        enum CodingKeys: String, CodingKey {
            case generationType = "generation_type", model, prompt, resolution, aspectRatio = "aspect_ratio", duration, loop
            case keyframes
        }
    }

    /// `frame0` starts the clip, `frame1` ends it.
    public struct Keyframes: Codable, Sendable, Equatable {
        public var frame0: Frame?
        public var frame1: Frame?
    }

    /// `{"type": "image", "url"}` or `{"type": "generation", "id"}`: an image the API fetches, or
    /// a generation of the same account (its last frame as a start, its first as an end).
    public struct Frame: Codable, Sendable, Equatable {
        public var type: String
        public var url: String?
        public var id: String?

        public static func image(_ url: String) -> Frame { Frame(type: "image", url: url) }
        public static func generation(_ id: String) -> Frame { Frame(type: "generation", id: id) }

        init(type: String, url: String? = nil, id: String? = nil) {
            self.type = type
            self.url = url
            self.id = id
        }

        /// A frame input as the API takes it; it takes no inline images or uploaded files.
        init(_ input: FrameInput) throws(ProviderErrorClassifier.Verdict) {
            switch input {
            case .url(let url): self = .image(url)
            case .generation(let id): self = .generation(id)
            case .inline, .file:
                throw ProviderErrorClassifier.Verdict(
                    errorClass: .invalid, message: "luma: Dream Machine takes keyframes as URLs or generations only")
            }
        }
    }

    /// The body of a create request.
    public static func body(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> Body {
        var body = Body(model: request.model, prompt: request.prompt, resolution: request.resolution,
                        aspectRatio: request.aspect, duration: "\(request.seconds)s")
        if request.start != nil || request.end != nil {
            body.keyframes = Keyframes(frame0: try request.start.map(Frame.init), frame1: try request.end.map(Frame.init))
        }
        return body
    }

    public func submit(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> String {
        try exchange.create(base + "/generations/video", body: Self.body(request), idPath: "id")
    }

    /// The fields of a create that say which generation it asked for; a listed generation's
    /// `request` with the same ones was made by the same request.
    struct Identity: Codable, Equatable {
        var model: String?
        var prompt: String?
        var keyframes: Keyframes?
        var duration: String?
        var resolution: String?
        var aspectRatio: String?

        enum CodingKeys: String, CodingKey { case model, prompt, keyframes, duration, resolution, aspectRatio = "aspect_ratio" }

        init(_ body: Body) {
            model = body.model
            prompt = body.prompt
            keyframes = body.keyframes
            duration = body.duration
            resolution = body.resolution
            aspectRatio = body.aspectRatio
        }

        /// A listed generation's `request`; nil when it cannot be read as one.
        init?(listed request: Any?) {
            guard let request, JSONSerialization.isValidJSONObject(request),
                  let data = try? JSONSerialization.data(withJSONObject: request),
                  let identity = try? JSONDecoder().decode(Identity.self, from: data) else { return nil }
            self = identity
        }
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

extension LumaDreamMachine: GenerationListing {
    /// Pages through `GET {base}/generations?limit=100&offset=...` (newest first, as the
    /// `lumaai` SDK's `generations.list`) until the generations are older than `since`, and
    /// returns the newest whose `request` matches this one's identifying fields.
    public func findGeneration(for request: VideoRequest, since: Date) throws(ProviderErrorClassifier.Verdict) -> String? {
        let wanted = Identity(try Self.body(request))
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
                      Identity(listed: generation["request"]) == wanted else { continue }
                return id
            }
            if older || generations.count < pageSize || answer["has_more"] as? Bool == false { return nil }
        }
        return nil
    }

    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
