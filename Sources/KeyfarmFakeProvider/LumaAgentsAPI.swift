import FlyingFox
import Foundation

/// Luma's Agents API under `/v1`, as far as ray-3.2 video goes: create a `type: video`
/// generation with `video.start_frame` / `video.end_frame`, poll it (queued, processing,
/// completed or failed with a `failure_code`), delete it. Errors are `{"error": {type, message}}`.
struct LumaAgentsAPI: Sendable {
    let state: FakeProviderState

    static let model = "ray-3.2"
    static let resolutions = ["360p": 360, "540p": 540, "720p": 720, "1080p": 1080]
    static let durations = ["5s": 5, "10s": 10]
    static let aspectRatios = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"]
    static let maxPromptCharacters = 6000
    /// The other generation types the API publishes; the fake renders only `video`.
    static let otherTypes = ["video_edit", "video_reframe"]
    static let bodyKeys: Set = ["model", "type", "prompt", "video"]
    static let videoKeys: Set = ["duration", "resolution", "aspect_ratio", "loop", "start_frame", "end_frame"]
    static let frameKeys: Set = ["url", "data", "media_type", "generation_id"]

    /// Whether the request creates a generation (and so takes a `fail_generation` fault).
    static func isCreate(_ call: Router.Call) -> Bool {
        call.method == "POST" && call.segments == ["v1", "generations"]
    }

    func handle(_ call: Router.Call, forcedFailure: String?) async -> HTTPResponse {
        guard call.sendsCredential(scheme: "Bearer") else {
            return Self.error(401, "Invalid or missing API key: send Authorization: Bearer <key>")
        }
        let route = Array(call.segments.dropFirst())
        if route == ["generations"] {
            guard call.method == "POST" else { return Self.error(405, "Method not allowed") }
            return await create(call, forcedFailure: forcedFailure)
        }
        guard route.count == 2, route[0] == "generations" else { return Self.error(404, "Not found: \(call.path)") }
        return await Router.generation(route[1], call, api: .lumaAgents, state: state,
                                       error: { Self.error($0, $1) }, object: Self.object)
    }

    private func create(_ call: Router.Call, forcedFailure: String?) async -> HTTPResponse {
        guard let body = JSON.object(call.body) else { return Self.error(400, "Invalid request body: expected a JSON object") }
        switch await Self.spec(body, state: state) {
        case .failure(let problem):
            return Self.error(problem.status, problem.message)
        case .success(let spec):
            let generation = await state.create(api: .lumaAgents, model: Self.model, request: call.body, spec: spec,
                                                forcedFailure: forcedFailure)
            return JSON.response(201, Self.object(generation, origin: call.origin))
        }
    }

    /// A bad request: 400 for a value or field the API does not accept, 422 for a missing or mistyped field.
    struct Problem: Error {
        var status: Int
        var message: String
    }

    /// Validates a create body as the real API does and turns it into what to render.
    static func spec(_ body: [String: Any], state: FakeProviderState) async -> Result<VideoSpec, Problem> {
        do throws(Problem) {
            try rejectUnknownKeys(body, allowed: bodyKeys, in: nil)
            let type = try string(body, "type", in: nil, default: nil)
            if otherTypes.contains(type) {
                throw Problem(status: 400, message: "type \(type.debugDescription) is not supported by this fake; use \"video\"")
            }
            guard type == "video" else {
                throw Problem(status: 400, message: "Invalid type \(type.debugDescription); allowed: video, \(otherTypes.joined(separator: ", "))")
            }
            let model = try string(body, "model", in: nil, default: nil)
            guard model == Self.model else {
                throw Problem(status: 400, message: "Invalid model \(model.debugDescription) for type video; allowed: \(Self.model)")
            }
            let prompt = try string(body, "prompt", in: nil, default: nil)
            guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw Problem(status: 400, message: "prompt must not be empty")
            }
            guard prompt.count <= maxPromptCharacters else {
                throw Problem(status: 400, message: "prompt is \(prompt.count) characters; at most \(maxPromptCharacters) are allowed")
            }

            guard let rawVideo = body["video"], !(rawVideo is NSNull) else { throw Problem(status: 422, message: "video: field required") }
            guard let video = rawVideo as? [String: Any] else { throw Problem(status: 422, message: "video: must be an object") }
            try rejectUnknownKeys(video, allowed: videoKeys, in: "video")
            let duration = try string(video, "duration", in: "video", default: nil)
            let resolution = try string(video, "resolution", in: "video", default: "720p")
            let aspectRatio = try string(video, "aspect_ratio", in: "video", default: "16:9")
            guard let seconds = durations[duration] else {
                throw Problem(status: 400, message: "Invalid video.duration \(duration.debugDescription); allowed: 5s, 10s")
            }
            guard let height = resolutions[resolution] else {
                throw Problem(status: 400, message: "Invalid video.resolution \(resolution.debugDescription); allowed: 360p, 540p, 720p, 1080p")
            }
            guard aspectRatios.contains(aspectRatio), let size = VideoSpec.frameSize(height: height, aspectRatio: aspectRatio) else {
                throw Problem(status: 400, message: "Invalid video.aspect_ratio \(aspectRatio.debugDescription); allowed: \(aspectRatios.joined(separator: ", "))")
            }
            var loop = false
            if let value = video["loop"], !(value is NSNull) {
                guard let flag = JSON.bool(value) else { throw Problem(status: 422, message: "video.loop: must be a boolean") }
                loop = flag
            }

            var spec = VideoSpec(width: size.width, height: size.height, seconds: seconds)
            spec.start = try await frame(video["start_frame"], name: "start_frame", state: state)
            spec.end = try await frame(video["end_frame"], name: "end_frame", state: state)
            if loop, spec.end != nil {
                throw Problem(status: 400, message: "video.loop cannot be true when video.end_frame is given")
            }
            return .success(spec)
        } catch {
            return .failure(error)
        }
    }

    private static func rejectUnknownKeys(_ object: [String: Any], allowed: Set<String>, in parent: String?) throws(Problem) {
        if let unknown = object.keys.filter({ !allowed.contains($0) }).sorted().first {
            let name = parent.map { "\($0).\(unknown)" } ?? unknown
            throw Problem(status: 400, message: "\(name): unknown field; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    private static func string(_ object: [String: Any], _ key: String, in parent: String?, default fallback: String?) throws(Problem) -> String {
        let name = parent.map { "\($0).\(key)" } ?? key
        switch object[key] {
        case nil, is NSNull:
            if let fallback { return fallback }
            throw Problem(status: 422, message: "\(name): field required")
        case let value as String:
            return value
        default:
            throw Problem(status: 422, message: "\(name): must be a string")
        }
    }

    /// One of `video.start_frame` / `video.end_frame`: exactly one of `{url}`, `{data, media_type}`
    /// or `{generation_id}` of a completed ray-3.2 generation, whose last frame starts the clip
    /// and whose first frame ends it.
    private static func frame(_ value: Any?, name: String, state: FakeProviderState) async throws(Problem) -> FrameSource? {
        guard let value, !(value is NSNull) else { return nil }
        let field = "video.\(name)"
        guard let object = value as? [String: Any] else { throw Problem(status: 422, message: "\(field): must be an object") }
        try rejectUnknownKeys(object, allowed: frameKeys, in: field)
        let given = ["url", "data", "generation_id"].filter { object[$0] != nil && !(object[$0] is NSNull) }
        guard given.count == 1 else {
            throw Problem(status: 400, message: "\(field) must have exactly one of url, data or generation_id (got \(given.isEmpty ? "none" : given.joined(separator: ", ")))")
        }
        if given[0] != "data", object["media_type"] != nil {
            throw Problem(status: 400, message: "\(field).media_type goes only with data")
        }
        switch given[0] {
        case "url":
            guard let url = object["url"] as? String, let parsed = URL(string: url),
                  ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
                throw Problem(status: 400, message: "\(field).url must be an http or https URL")
            }
            return .imageURL(url)
        case "data":
            guard let data = object["data"] as? String else { throw Problem(status: 422, message: "\(field).data: must be a base64 string") }
            guard let typeName = object["media_type"] as? String else {
                throw Problem(status: 422, message: "\(field).media_type: field required with data (image/png or image/jpeg)")
            }
            guard let mediaType = InlineImage.MediaType(rawValue: typeName) else {
                throw Problem(status: 400, message: "Invalid \(field).media_type \(typeName.debugDescription); allowed: image/png, image/jpeg")
            }
            switch InlineImage.decode(base64: data, as: mediaType) {
            case .success(let bytes): return .imageData(bytes)
            case .failure(let rejection): throw Problem(status: 400, message: "\(field).data \(rejection)")
            }
        default:
            guard let id = object["generation_id"] as? String else {
                throw Problem(status: 422, message: "\(field).generation_id: must be a string")
            }
            guard let generation = await state.generation(id.lowercased(), api: .lumaAgents) else {
                throw Problem(status: 400, message: "\(field): generation \(id) not found")
            }
            guard let video = generation.video else {
                throw Problem(status: 400, message: "\(field): generation \(id) is not completed")
            }
            return .videoFrame(path: video.path, last: name == "start_frame")
        }
    }

    /// The generation as `POST /generations` and `GET /generations/{id}` return it.
    static func object(_ generation: FakeGeneration, origin: String) -> [String: Any] {
        var output: [[String: Any]] = []
        if generation.video != nil {
            output = [["type": "video", "url": "\(origin)/files/\(generation.id).mp4", "media_type": "video/mp4"]]
        }
        let state = switch generation.state {
        case .queued: "queued"
        case .dreaming: "processing"
        case .completed: "completed"
        case .failed: "failed"
        }
        return [
            "id": generation.id,
            "type": "video",
            "model": generation.model,
            "state": state,
            "created_at": JSON.timestamp(generation.createdAt),
            "failure_code": failureCode(generation) ?? NSNull(),
            "failure_reason": generation.failureReason ?? NSNull(),
            "output": output,
        ]
    }

    /// `moderation_blocked`, `image_fetch_failed` or `generation_failed` for a failed generation.
    static func failureCode(_ generation: FakeGeneration) -> String? {
        guard generation.state == .failed else { return nil }
        if generation.failureReason == FakeFault.moderationReason { return "moderation_blocked" }
        if generation.failureCause == .imageFetch { return "image_fetch_failed" }
        return "generation_failed"
    }

    /// The API's error body, `{"error": {"type": ..., "message": ...}}`, with its status.
    static func error(_ status: Int, _ message: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        let type = switch status {
        case 401: "authentication_error"
        case 404: "not_found_error"
        case 429: "rate_limit_error"
        case 500...: "api_error"
        default: "invalid_request_error"
        }
        return JSON.response(status, ["error": ["type": type, "message": message]], headers: headers)
    }
}
