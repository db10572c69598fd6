import Foundation
import KeyfarmCore

/// WaveSpeed's API, as the `wavespeed` SDK (2.0.5) uses it: `POST {base}/{model}` (Bearer)
/// answers `{code, message, data: {id, status}}`; `GET {base}/predictions/{id}/result` goes
/// created, processing, then one of the SDK's terminal states: `completed` (video at
/// `data.outputs[0]`) or `failed`, `cancelled`, `timeout`, `deleted` (`data.error`). Images
/// are URLs or data URIs under each model's own field names (`ModelInputTable`).
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

    /// The states the SDK stops polling on, besides `completed`: it raises for each. Any other
    /// value (`created`, `processing`, one WaveSpeed adds later) keeps it polling.
    public static let failedStates = ["failed", "cancelled", "timeout", "deleted"]

    /// The body of a create request.
    public static func body(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> ModelBody {
        let engine = Engine.wavespeed(model: request.model)
        return try ModelInputs.resolved(for: request, engine: engine).body(request, engine: engine)
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
        let error = (data["error"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        switch state {
        case "completed":
            guard let url = (data["outputs"] as? [Any])?.first as? String, !url.isEmpty else {
                throw ProviderErrorClassifier.Verdict(errorClass: .transient,
                                                      message: "wavespeed: prediction \(id) is completed but lists no output")
            }
            return .completed(videoURL: url)
        case "failed":
            let reason = error ?? "the prediction failed"
            return .failed(code: state, reason: reason, terminal: JSONExchange.isModeration(reason))
        case "cancelled", "timeout", "deleted":
            // WaveSpeed ended it without a video: a new prediction may well succeed.
            return .failed(code: state, reason: error ?? "the prediction was \(state == "timeout" ? "timed out" : state)",
                           terminal: false)
        default:
            return .pending(state)
        }
    }
}
