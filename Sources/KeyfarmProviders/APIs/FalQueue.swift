import Foundation
import KeyfarmCore

/// fal.ai's queue API, as the `fal-client` SDK (1.0.3) uses it: `POST {base}/{model}`
/// (`Authorization: Key ...`) answers a `request_id`; `GET {base}/{app}/requests/{id}/status`
/// is IN_QUEUE (`queue_position`), IN_PROGRESS or COMPLETED, and a COMPLETED request that
/// failed carries `error` and `error_type`; the result is at `GET {base}/{app}/requests/{id}`,
/// where `app` is the model id's first two path components. Each model names its inputs its
/// own way (`ModelInputTable`).
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

    /// The body of a submit request: the model's own field names for its keyframes, duration,
    /// resolution and aspect ratio.
    public static func body(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> ModelBody {
        let engine = Engine.fal(model: request.model)
        return try ModelInputs.resolved(for: request, engine: engine).body(request, engine: engine)
    }

    /// `owner/app` of a model id: the part of the path fal's request URLs use.
    var app: String { model.split(separator: "/").prefix(2).joined(separator: "/") }

    /// The statuses fal-client's `status()` reads; any other makes it raise.
    public static let statuses = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]

    /// fal's infrastructure error categories (`error_type`): the request failed on fal's side
    /// (a timeout, a runner lost or not scheduled), so a new request may well succeed. A failure
    /// without one is a model error, such as input the model refused.
    public static let infrastructureErrorTypes: Set<String> = [
        "request_timeout", "startup_timeout", "runner_scheduling_failure", "runner_connection_timeout",
        "runner_disconnected", "runner_connection_refused", "runner_connection_error", "runner_incomplete_response",
        "runner_server_error", "internal_error",
    ]

    /// Whether a failed request's error means asking again cannot help: a model error (no
    /// `error_type`) or a moderation refusal. An error type fal adds later is taken as
    /// infrastructure, as every documented one is.
    public static func isTerminal(errorType: String?, reason: String) -> Bool {
        if JSONExchange.isModeration(reason) { return true }
        guard let errorType, !errorType.isEmpty else { return true }
        return false
    }

    public func submit(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> String {
        try exchange.create(base + "/" + model, body: Self.body(request), idPath: "request_id")
    }

    /// fal-client retries a submit answered 408 or 409 (429 too, which the engine rides out by
    /// Retry-After): fal refused the request before queueing it and issued no request id, so
    /// nothing was created and repeating it cannot make a second, billed request. Up to 10
    /// tries in all, waiting 0.1 s doubling to 30 s, each times a random 0.5 to 1.5.
    public func createRetryDelay(after verdict: ProviderErrorClassifier.Verdict, attempt: Int) -> Duration? {
        Self.createRetryDelay(status: verdict.status, attempt: attempt, random: Double.random(in: 0.5...1.5))
    }

    static let createRetryStatuses = [408, 409]
    static let maximumCreateTries = 10

    /// The SDK's schedule (`_get_retry_delay(attempt, 0.1, 30, "exponential", jitter=True)`).
    public static func createRetryDelay(status: Int?, attempt: Int, random: Double) -> Duration? {
        guard let status, createRetryStatuses.contains(status), attempt < maximumCreateTries else { return nil }
        var delay = 0.1
        for _ in 1..<max(attempt, 1) { delay = min(delay * 2, 30) }
        return .milliseconds(Int64((min(delay * random, 30) * 1000).rounded()))
    }

    public func status(of id: String) throws(ProviderErrorClassifier.Verdict) -> GenerationStatus? {
        let requestURL = "\(base)/\(app)/requests/\(id)"
        guard let answer = try exchange.poll(requestURL + "/status") else { return nil }
        let state = try exchange.string(answer, "status")
        switch state {
        case "IN_QUEUE":
            let position = (answer["queue_position"] as? NSNumber).map { ", position \($0.intValue)" } ?? ""
            return .pending("IN_QUEUE" + position)
        case "IN_PROGRESS":
            return .pending(state)
        case "COMPLETED":
            break
        default:
            throw ProviderErrorClassifier.Verdict(
                errorClass: .transient,
                message: "fal: request \(id) has status \(state.debugDescription), which fal-client does not know (\(Self.statuses.joined(separator: ", ")))")
        }
        // COMPLETED covers success and failure alike: a failed request carries `error`.
        if let error = answer["error"], !(error is NSNull) {
            let reason = ProviderErrorClassifier.describe(error) ?? "the request failed"
            let errorType = answer["error_type"] as? String
            return .failed(code: errorType, reason: reason + (errorType.map { " (\($0))" } ?? ""),
                           terminal: Self.isTerminal(errorType: errorType, reason: reason))
        }
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
