import Foundation

/// WaveSpeed's API: `POST {base}/{model}` (Bearer) answers `{code, message, data: {id,
/// status}}`; `GET {base}/predictions/{id}/result` goes created, processing, completed
/// (`data.outputs[0]`) or failed (`data.error`). Images are URLs or data URIs; the end image
/// is `end_image` on Kling models and `last_image` on the others.
public struct WaveSpeed: VideoAPI {
    let base: String
    let model: String
    let exchange: JSONExchange

    public init(base: String, model: String, key: Secret, client: HTTPClient) {
        self.base = base
        self.model = model
        exchange = JSONExchange(client: client, provider: .wavespeed, headers: [("Authorization", "Bearer \(key.reveal())")])
    }

    public var provider: Provider { .wavespeed }
    public var api: String { "wavespeed" }
    public var frameKinds: FrameKinds { [.url, .inline] }

    /// The end image's field for a model.
    public static func endField(model: String) -> String { model.contains("kling") ? "end_image" : "last_image" }

    /// The body of a create request.
    public static func body(_ request: VideoRequest) -> [String: Any] {
        var body: [String: Any] = ["prompt": request.prompt, "duration": request.seconds]
        if !request.model.contains("kling") {
            body["resolution"] = request.resolution
            body["aspect_ratio"] = request.aspect
        }
        if let start = request.start?.urlOrDataURI { body["image"] = start }
        if let end = request.end?.urlOrDataURI { body[endField(model: request.model)] = end }
        return body
    }

    public func submit(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> String {
        try exchange.create(base + "/" + model, body: Self.body(request), idPath: "data", "id")
    }

    public func status(of id: String) throws(ProviderErrorClassifier.Verdict) -> GenerationStatus? {
        guard let answer = try exchange.poll("\(base)/predictions/\(id)/result"),
              let data = answer["data"] as? [String: Any] else {
            return nil
        }
        let state = try exchange.string(data, "status")
        switch state {
        case "completed":
            guard let url = (data["outputs"] as? [Any])?.first as? String, !url.isEmpty else {
                throw ProviderErrorClassifier.Verdict(errorClass: .transient,
                                                      message: "wavespeed: prediction \(id) is completed but lists no output")
            }
            return .completed(videoURL: url)
        case "failed":
            let reason = (data["error"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "the prediction failed"
            return .failed(code: nil, reason: reason, terminal: JSONExchange.isModeration(reason))
        default:
            return .pending(state)
        }
    }
}
