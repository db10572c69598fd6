import FlyingFox
import Foundation
import KeyfarmCore

/// WaveSpeed's API under `/api/v3`, as the `wavespeed` SDK (2.0.5) reads it: `POST
/// /api/v3/{model}` submits a prediction (HTTP 200, `data.id`) and `GET
/// /api/v3/predictions/{id}/result` polls it: created, processing, then one of the SDK's
/// terminal states, `completed` (`data.outputs`) or `failed`, `cancelled`, `timeout`,
/// `deleted` (`data.error`). Every answer is the envelope `{"code", "message", "data"}`,
/// errors included. A model in `ModelInputTable` takes its own image fields only.
struct WaveSpeedAPI: Sendable {
    let state: FakeProviderState

    static let resolutions = ["480p": 480, "720p": 720, "1080p": 1080]
    static let aspectRatios = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"]
    static let durations = [5, 10]

    /// Whether the request submits a prediction (and so takes a `fail_generation` fault).
    static func isCreate(_ call: Router.Call) -> Bool {
        call.method == "POST" && call.segments.count >= 4 && call.segments[2] != "predictions"
    }

    /// A known model's inputs (`ModelInputTable.known`); nil for a model the table lacks.
    static func inputs(model: String) -> ModelInputs? {
        ModelInputTable.known["wavespeed/" + model]
    }

    /// The fields a model takes; anything else is refused as an unknown field. A known model
    /// takes its own image fields (Kling 2.1 `end_image`, Kling 2.5 Turbo `last_image`), and
    /// `size` in place of `resolution` when it is sized so; another model either end field.
    static func fields(model: String) -> Set<String> {
        var fields: Set<String> = ["prompt", "duration", "aspect_ratio", "seed", "negative_prompt"]
        guard let inputs = inputs(model: model) else { return fields.union(["image", "end_image", "last_image", "resolution"]) }
        fields.insert(inputs.resolutionField == .size ? "size" : "resolution")
        for field in [inputs.startField, inputs.endField].compactMap({ $0 }) { fields.insert(field) }
        return fields
    }

    func handle(_ call: Router.Call, forcedFailure: ForcedEnd?) async -> HTTPResponse {
        guard call.sendsCredential(scheme: "Bearer") else {
            return Self.error(401, "Unauthorized: send Authorization: Bearer <key>")
        }
        let route = Array(call.segments.dropFirst(2))
        if route.first == "predictions" {
            guard route.count == 3, route[2] == "result" else { return Self.error(404, "Not found: \(call.path)") }
            guard call.method == "GET" else { return Self.error(405, "Method not allowed") }
            guard let generation = await state.poll(route[1].lowercased(), api: .wavespeed) else {
                return Self.error(404, "prediction not found")
            }
            return Self.envelope(Self.prediction(generation, origin: call.origin))
        }
        guard route.count >= 2 else { return Self.error(404, "Not found: \(call.path)") }
        guard call.method == "POST" else { return Self.error(405, "Method not allowed") }
        return await submit(call, model: route.joined(separator: "/"), forcedFailure: forcedFailure)
    }

    private func submit(_ call: Router.Call, model: String, forcedFailure: ForcedEnd?) async -> HTTPResponse {
        guard let body = JSON.object(call.body) else { return Self.error(400, "Invalid request body: expected a JSON object") }
        switch Self.spec(body, model: model) {
        case .failure(let message):
            return Self.error(400, message.description)
        case .success(let spec):
            let generation = await state.create(api: .wavespeed, model: model, request: call.body, spec: spec,
                                                forcedFailure: forcedFailure)
            return Self.envelope(Self.prediction(generation, origin: call.origin))
        }
    }

    /// Why a submission was refused; WaveSpeed answers every such one with 400.
    struct Invalid: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Validates a submission for `model` and turns it into what to render.
    static func spec(_ body: [String: Any], model: String) -> Result<VideoSpec, Invalid> {
        do throws(Invalid) {
            let allowed = fields(model: model)
            if let unknown = body.keys.filter({ !allowed.contains($0) }).sorted().first {
                throw Invalid("unknown field \(unknown.debugDescription) for model \(model); allowed: \(allowed.sorted().joined(separator: ", "))")
            }
            guard let prompt = body["prompt"] as? String, !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw Invalid(body["prompt"] == nil ? "prompt is required" : "prompt must be a non-empty string")
            }
            if let negative = body["negative_prompt"], !(negative is NSNull), !(negative is String) {
                throw Invalid("negative_prompt must be a string")
            }
            if let seed = body["seed"], !(seed is NSNull), JSON.integer(seed) == nil {
                throw Invalid("seed must be an integer")
            }
            var seconds = 5
            if let value = body["duration"], !(value is NSNull) {
                guard let number = JSON.integer(value), durations.contains(number) else {
                    throw Invalid("duration must be the integer 5 or 10")
                }
                seconds = number
            }
            let known = inputs(model: model)
            let aspectRatio = try option(body, "aspect_ratio", allowed: aspectRatios, default: "16:9")
            var frame: (width: Int, height: Int)
            if known?.resolutionField == .size, let sizes = known?.resolutions {
                let size = try option(body, "size", allowed: sizes, default: sizes[0])
                let parts = size.split(separator: "*").compactMap { Int($0) }
                frame = (parts[0], parts[1])
            } else {
                let resolution = try option(body, "resolution", allowed: Array(resolutions.keys).sorted(),
                                            default: impliedResolution(model: model) ?? "720p")
                guard let size = VideoSpec.frameSize(height: resolutions[resolution]!, aspectRatio: aspectRatio) else {
                    throw Invalid("aspect_ratio \(aspectRatio.debugDescription) is not valid")
                }
                frame = size
            }
            var spec = VideoSpec(width: frame.width, height: frame.height, seconds: seconds)
            let startField = known.map { $0.startField } ?? "image"
            if let startField { spec.start = try image(body, startField) }
            for field in known.map({ [$0.endField].compactMap { $0 } }) ?? ["end_image", "last_image"] {
                if let end = try image(body, field) {
                    guard spec.end == nil else { throw Invalid("give either end_image or last_image, not both") }
                    spec.end = end
                }
            }
            let lowered = model.lowercased()
            if spec.start == nil, let startField, lowered.contains("i2v") || lowered.contains("image-to-video") {
                throw Invalid("\(startField) is required for model \(model)")
            }
            return .success(spec)
        } catch {
            return .failure(error)
        }
    }

    /// A model id such as `wavespeed-ai/wan-2.2/i2v-720p` names the resolution it renders at.
    private static func impliedResolution(model: String) -> String? {
        resolutions.keys.sorted().first { model.lowercased().hasSuffix("-\($0)") || model.lowercased().contains("/\($0)") }
    }

    private static func option(_ body: [String: Any], _ key: String, allowed: [String], default fallback: String) throws(Invalid) -> String {
        guard let value = body[key], !(value is NSNull) else { return fallback }
        guard let text = value as? String, allowed.contains(text) else {
            throw Invalid("\(key) must be one of \(allowed.joined(separator: ", "))")
        }
        return text
    }

    /// An image field: an http(s) URL the renderer fetches, or a PNG or JPEG data URI.
    private static func image(_ body: [String: Any], _ key: String) throws(Invalid) -> FrameSource? {
        guard let value = body[key], !(value is NSNull) else { return nil }
        guard let text = value as? String else { throw Invalid("\(key) must be a URL or a data URI") }
        if let decoded = InlineImage.decode(dataURI: text) {
            switch decoded {
            case .success(let bytes): return .imageData(bytes)
            case .failure(let rejection): throw Invalid("\(key) \(rejection)")
            }
        }
        guard let parsed = URL(string: text), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
            throw Invalid("\(key) must be an http or https URL or a data URI")
        }
        return .imageURL(text)
    }

    /// The prediction object, `data` of both the submit and the result answers.
    static func prediction(_ generation: FakeGeneration, origin: String) -> [String: Any] {
        let status = switch generation.state {
        case .queued: "created"
        case .dreaming: "processing"
        case .completed: "completed"
        case .failed: generation.endedAs ?? "failed"
        }
        let inference = generation.finishedAt.map { Int(($0.timeIntervalSince(generation.createdAt) * 1000).rounded()) } ?? 0
        return [
            "id": generation.id,
            "model": generation.model,
            "status": status,
            "outputs": generation.video == nil ? [String]() : ["\(origin)/files/\(generation.id).mp4"],
            "urls": ["get": "\(origin)/api/v3/predictions/\(generation.id)/result"],
            "has_nsfw_contents": [Bool](),
            "created_at": JSON.timestamp(generation.createdAt),
            "error": generation.state == .failed ? generation.failureReason ?? "generation failed" : "",
            "timings": ["inference": inference],
        ]
    }

    /// `{"code": 200, "message": "success", "data": ...}`.
    static func envelope(_ data: [String: Any]) -> HTTPResponse {
        JSON.response(200, ["code": 200, "message": "success", "data": data] as [String: Any])
    }

    /// WaveSpeed's error body, `{"code": status, "message": ..., "data": null}`, with that status.
    static func error(_ status: Int, _ message: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        JSON.response(status, ["code": status, "message": message, "data": NSNull()] as [String: Any], headers: headers)
    }
}
