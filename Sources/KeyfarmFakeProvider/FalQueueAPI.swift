import FlyingFox
import Foundation
import KeyfarmCore

/// fal.ai's queue API at the root, as the `fal-client` SDK (1.0.3) reads it: `POST /{model}`
/// submits (answering `request_id`, `status_url`, `response_url`, `cancel_url`), `GET
/// /{app}/requests/{id}/status` polls, `GET /{app}/requests/{id}` returns the result and `PUT
/// /{app}/requests/{id}/cancel` cancels a queued request. A status is IN_QUEUE (with
/// `queue_position`), IN_PROGRESS (with `logs`) or COMPLETED (with `logs`, and `error` and
/// `error_type` when the request failed): the keys the SDK requires. As on fal, the URLs it
/// hands back name only the app (`owner/app`, e.g. `fal-ai/kling-video`); any prefix is accepted.
struct FalQueueAPI: Sendable {
    let state: FakeProviderState

    /// fal renders its image-to-video models at the input image's size; the fake uses 960x540
    /// to stay fast.
    static let frameSize = (width: 960, height: 540)

    func handle(_ call: Router.Call, forcedFailure: ForcedEnd?) async -> HTTPResponse {
        guard call.sendsCredential(scheme: "Key") else {
            return JSON.detail(401, "No valid authentication: send Authorization: Key <key>")
        }
        let segments = call.segments
        if let marker = segments.firstIndex(of: "requests"), marker > 0, marker + 1 < segments.count {
            let app = segments[..<marker].joined(separator: "/")
            let id = segments[marker + 1].lowercased()
            let rest = Array(segments[(marker + 2)...])
            switch (call.method, rest.count <= 1 ? rest.first ?? "" : "?") {
            case ("GET", "status"):
                guard let generation = await state.poll(id, api: .fal) else { return JSON.detail(404, "Request not found") }
                return JSON.response(200, Self.status(generation, app: app, origin: call.origin,
                                                      logs: call.query["logs"] == "true" || call.query["logs"] == "1"))
            case ("GET", ""):
                guard let generation = await state.generation(id, api: .fal) else { return JSON.detail(404, "Request not found") }
                return result(generation, origin: call.origin)
            case ("PUT", "cancel"):
                guard await state.generation(id, api: .fal) != nil else { return JSON.detail(404, "Request not found") }
                if await state.cancel(id) { return JSON.response(202, ["status": "CANCELLATION_REQUESTED"]) }
                return JSON.response(400, ["status": "ALREADY_COMPLETED"])
            default:
                return JSON.detail(405, "Method not allowed")
            }
        }
        guard call.method == "POST", segments.count >= 2 else { return JSON.detail(404, "Not found") }
        return await submit(call, model: segments.joined(separator: "/"), forcedFailure: forcedFailure)
    }

    private func submit(_ call: Router.Call, model: String, forcedFailure: ForcedEnd?) async -> HTTPResponse {
        guard let body = JSON.object(call.body) else { return Self.invalid("body", "Input should be a valid JSON object") }
        guard let prompt = body["prompt"] as? String, !prompt.isEmpty else { return Self.invalid("prompt", "Field required") }
        var seconds = 5
        let known = ModelInputTable.known["fal/" + model]
        // Luma's models on fal take Luma's own lengths ("5s", "9s"); the others "5" or "10".
        let lumaLengths = known.map { $0.duration == .luma } ?? model.contains("luma-dream-machine")
        switch body["duration"] {
        case nil, is NSNull: break
        case let text as String where lumaLengths && (text == "5s" || text == "9s"): seconds = Int(text.dropLast())!
        case let text as String where !lumaLengths && (text == "5" || text == "10"): seconds = Int(text)!
        case let number as Int where !lumaLengths && (number == 5 || number == 10): seconds = number
        default: return Self.invalid("duration", lumaLengths ? "Input should be '5s' or '9s'" : "Input should be '5' or '10'")
        }
        var spec = VideoSpec(width: Self.frameSize.width, height: Self.frameSize.height, seconds: seconds)
        // A known model's own image fields (Kling 2.5 `tail_image_url`, 2.6 `end_image_url`);
        // a field another model uses is refused, as fal's input validation does.
        let startField = known.map { $0.startField } ?? "image_url"
        let endFields = known.map { [$0.endField].compactMap { $0 } } ?? ["tail_image_url", "end_image_url"]
        let imageFields = ["image_url", "start_image_url", "tail_image_url", "end_image_url"]
        for name in imageFields where body[name] != nil && name != startField && !endFields.contains(name) {
            return Self.invalid(name, "Extra inputs are not permitted")
        }
        var fields = endFields.map { ($0, false) }
        if let startField { fields.insert((startField, true), at: 0) }
        for (name, isStart) in fields {
            guard let value = body[name], !(value is NSNull) else { continue }
            guard let url = value as? String, let parsed = URL(string: url),
                  ["http", "https"].contains(parsed.scheme?.lowercased() ?? "") else {
                return Self.invalid(name, "Input should be a valid URL")
            }
            if isStart { spec.start = .imageURL(url) } else { spec.end = .imageURL(url) }
        }
        if model.hasSuffix("image-to-video"), spec.start == nil, let startField { return Self.invalid(startField, "Field required") }

        let generation = await state.create(api: .fal, model: model, request: call.body, spec: spec, forcedFailure: forcedFailure)
        let app = model.split(separator: "/").prefix(2).joined(separator: "/")
        let base = "\(call.origin)/\(app)/requests/\(generation.id)"
        return JSON.response(200, [
            "request_id": generation.id, "response_url": base, "status_url": base + "/status",
            "cancel_url": base + "/cancel", "queue_position": 0,
        ])
    }

    static func status(_ generation: FakeGeneration, app: String, origin: String, logs: Bool = false) -> [String: Any] {
        let base = "\(origin)/\(app)/requests/\(generation.id)"
        var object: [String: Any] = ["request_id": generation.id, "response_url": base, "status_url": base + "/status",
                                     "cancel_url": base + "/cancel"]
        switch generation.state {
        case .queued:
            object["status"] = "IN_QUEUE"
            object["queue_position"] = 0
        case .dreaming:
            object["status"] = "IN_PROGRESS"
            object["logs"] = logs ? [logLine("rendering \(generation.spec.seconds) s", at: generation.createdAt)] : [Any]()
        case .completed, .failed:
            object["status"] = "COMPLETED"
            object["logs"] = logs ? [logLine("done", at: generation.finishedAt ?? generation.createdAt)] : [Any]()
            object["metrics"] = ["inference_time": Double(generation.spec.seconds)]
            if generation.state == .failed {
                // A failed request is COMPLETED too, with fal's error and its category (none for
                // a model error such as moderation, which is the input's fault).
                object["error"] = generation.failureReason ?? "generation failed"
                object["error_type"] = generation.errorType ?? NSNull()
            }
        }
        return object
    }

    /// One of fal's log entries: `{message, level, source, timestamp}`.
    static func logLine(_ message: String, at date: Date) -> [String: Any] {
        ["message": message, "level": "INFO", "source": "USER", "timestamp": JSON.timestamp(date)]
    }

    private func result(_ generation: FakeGeneration, origin: String) -> HTTPResponse {
        switch generation.state {
        case .queued, .dreaming:
            return JSON.detail(400, "Request is still in progress")
        case .failed:
            // Moderation is the caller's fault (422); anything else is fal's (500, not billed).
            let reason = generation.failureReason ?? "generation failed"
            guard let type = generation.errorType, !generation.cancelled else { return JSON.detail(422, reason) }
            // fal's request error: `error_type` in the body and the X-Fal-Error-Type header, which
            // tell a failed request from a gateway error.
            return JSON.response(type == "request_timeout" ? 504 : 500, ["detail": reason, "error_type": type],
                                 headers: [HTTPHeader("X-Fal-Error-Type"): type])
        case .completed:
            guard let video = generation.video else { return JSON.detail(500, "result missing") }
            return JSON.response(200, ["video": [
                "url": "\(origin)/files/\(generation.id).mp4", "content_type": "video/mp4",
                "file_name": "\(generation.id).mp4", "file_size": video.bytes,
            ] as [String: Any]])
        }
    }

    /// fal's validation error: 422 with a list of `{loc, msg, type}`.
    static func invalid(_ field: String, _ message: String) -> HTTPResponse {
        JSON.response(422, ["detail": [["loc": ["body", field], "msg": message, "type": "value_error"] as [String: Any]]])
    }
}
