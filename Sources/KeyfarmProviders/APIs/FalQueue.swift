import Foundation

/// fal.ai's queue API: `POST {base}/{model}` (`Authorization: Key ...`) answers a
/// `request_id`; `GET {base}/{app}/requests/{id}/status` goes IN_QUEUE, IN_PROGRESS,
/// COMPLETED; the result is at `GET {base}/{app}/requests/{id}`, where `app` is the model id's
/// first two path components. Start and end image field names differ per model.
public struct FalQueue: VideoAPI {
    let base: String
    let model: String
    let exchange: JSONExchange

    public init(base: String, model: String, key: Secret, client: HTTPClient) {
        self.base = base
        self.model = model
        exchange = JSONExchange(client: client, provider: .fal, headers: [("Authorization", "Key \(key.reveal())")])
    }

    public var provider: Provider { .fal }
    public var api: String { "fal" }
    public var frameKinds: FrameKinds { [.url] }

    /// How one model family names its inputs.
    public struct Fields: Sendable, Equatable {
        public var start: String
        public var end: String
        /// `"5"` (Kling) or `"5s"` (Luma on fal).
        public var durationSuffix: String
        /// Whether the model takes `resolution` and `aspect_ratio` (Kling follows the input image).
        public var sendsFraming: Bool
    }

    /// The fields of a model: Kling's image-to-video models take `image_url` and
    /// `tail_image_url`; Luma's Ray 2 on fal takes `image_url` and `end_image_url` with Luma's
    /// `5s`/`9s`; any other model is sent `image_url` and `end_image_url`.
    public static func fields(model: String) -> Fields {
        if model.contains("kling-video") {
            return Fields(start: "image_url", end: "tail_image_url", durationSuffix: "", sendsFraming: false)
        }
        if model.contains("luma-dream-machine") {
            return Fields(start: "image_url", end: "end_image_url", durationSuffix: "s", sendsFraming: true)
        }
        return Fields(start: "image_url", end: "end_image_url", durationSuffix: "", sendsFraming: true)
    }

    /// The body of a submit request.
    public static func body(_ request: VideoRequest) -> [String: Any] {
        let fields = fields(model: request.model)
        var body: [String: Any] = ["prompt": request.prompt, "duration": "\(request.seconds)\(fields.durationSuffix)"]
        if fields.sendsFraming {
            body["resolution"] = request.resolution
            body["aspect_ratio"] = request.aspect
        }
        if let start = request.start?.urlOrDataURI { body[fields.start] = start }
        if let end = request.end?.urlOrDataURI { body[fields.end] = end }
        return body
    }

    /// `owner/app` of a model id: the part of the path fal's request URLs use.
    var app: String { model.split(separator: "/").prefix(2).joined(separator: "/") }

    public func submit(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> String {
        try exchange.create(base + "/" + model, body: Self.body(request), idPath: "request_id")
    }

    public func status(of id: String) throws(ProviderErrorClassifier.Verdict) -> GenerationStatus? {
        let requestURL = "\(base)/\(app)/requests/\(id)"
        guard let answer = try exchange.poll(requestURL + "/status") else { return nil }
        let state = try exchange.string(answer, "status")
        guard state == "COMPLETED" else { return .pending(state) }
        // COMPLETED covers success and failure alike: the result says which.
        do {
            guard let result = try exchange.poll(requestURL) else { return nil }
            return .completed(videoURL: try exchange.string(result, "video", "url"))
        } catch let verdict {
            switch verdict.status {
            case 422?:
                // 422 on a finished request: the input was refused (moderation, bad image).
                return .failed(code: "422", reason: verdict.message, terminal: true)
            case let status? where (500...599).contains(status) && verdict.providerErrorType != nil:
                // A 5xx result with fal's error type: the request failed for good (fal does not
                // bill it). Without one it may be a gateway hiccup in front of a stored result:
                // thrown below, the poll is tried again and the result fetched once it answers.
                return .failed(code: "\(status)", reason: verdict.message + " (\(verdict.providerErrorType!))", terminal: false)
            default:
                throw verdict
            }
        }
    }
}
