import FlyingFox
import Foundation

/// Luma's Agents API under `/v1`, as the official `luma-agents` SDK (0.5.0) describes it,
/// as far as ray-3.2 video goes: create a `type: video` generation from top-level `model`,
/// `prompt`, `aspect_ratio` and a `video` object (`duration`, `resolution`, `hdr`,
/// `exr_export`, `loop`, and either `keyframes` + `keyframe_indexes` or the legacy
/// `start_frame` / `end_frame`), poll it (queued, processing, completed with presigned output
/// URLs that expire, or failed with a `failure_code`). Errors are `{"detail": ...}`.
struct LumaAgentsAPI: Sendable {
    let state: FakeProviderState

    static let model = "ray-3.2"
    static let resolutions = ["360p": 360, "540p": 540, "720p": 720, "1080p": 1080]
    static let durations = ["5s": 5, "10s": 10]
    /// The SDK's aspect ratios; the server checks each model's own set.
    static let aspectRatios = ["3:1", "2:1", "21:9", "16:9", "4:3", "3:2", "1:1", "3:4", "2:3", "9:16", "1:2", "1:3"]
    static let maxPromptCharacters = 6000
    static let maxKeyframes = 64
    /// The other generation types the SDK names; the fake renders `video` and `video_reframe`.
    static let otherTypes = ["image", "image_edit", "video_edit", "layering"]
    /// Every top-level field of the SDK's create params.
    static let bodyKeys: Set = ["model", "type", "prompt", "aspect_ratio", "video", "image_ref", "layering", "output_format",
                                "source", "style", "user_id", "web_search"]
    /// Fields that belong to image generations, refused on `type: video`.
    static let imageOnlyKeys: Set = ["image_ref", "layering", "output_format", "style", "web_search", "source"]
    static let videoKeys: Set = ["duration", "resolution", "hdr", "exr_export", "loop", "start_frame", "end_frame",
                                 "keyframes", "keyframe_indexes", "source_position", "edit"]
    static let frameKeys: Set = ["url", "data", "media_type", "generation_id", "file_id"]

    /// Whether the request creates a generation (and so takes a `fail_generation` fault).
    static func isCreate(_ call: Router.Call) -> Bool {
        call.method == "POST" && call.segments == ["v1", "generations"]
    }

    func handle(_ call: Router.Call, forcedFailure: ForcedEnd?) async -> HTTPResponse {
        guard call.sendsCredential(scheme: "Bearer") else {
            return Self.error(401, "Invalid or missing API key: send Authorization: Bearer <key>")
        }
        let route = Array(call.segments.dropFirst())
        if route.first == "files" { return await LumaFilesAPI(state: state).handle(route, call) }
        if route == ["generations"] {
            guard call.method == "POST" else { return Self.error(405, "Method not allowed") }
            return await create(call, forcedFailure: forcedFailure)
        }
        guard route.count == 2, route[0] == "generations" else { return Self.error(404, "Not found: \(call.path)") }
        return await Router.generation(route[1], call, api: .lumaAgents, state: state,
                                       error: { Self.error($0, $1) }, object: show)
    }

    /// The generation as an answer shows it, its output URLs signed as of this answer (already
    /// expired while the fault plan's `expired_output_urls` lasts).
    private func show(_ generation: FakeGeneration, origin: String) async -> [String: Any] {
        let lifetime = await state.outputURLLifetime(completed: generation.video != nil)
        return Self.object(generation, origin: origin, lifetime: lifetime, secret: state.urlSecret)
    }

    private func create(_ call: Router.Call, forcedFailure: ForcedEnd?) async -> HTTPResponse {
        guard let body = JSON.object(call.body) else { return Self.error(400, "Invalid request body: expected a JSON object") }
        switch await Self.spec(body, state: state) {
        case .failure(let problem):
            return Self.error(problem.status, problem.message)
        case .success(let spec):
            let generation = await state.create(api: .lumaAgents, model: Self.model, request: call.body, spec: spec,
                                                forcedFailure: forcedFailure)
            return JSON.response(201, await show(generation, origin: call.origin))
        }
    }

    /// A bad request: 400 for a value or field the API does not accept, 422 for a missing or mistyped field.
    struct Problem: Error {
        var status: Int
        var message: String
    }

    /// Validates a create body as the SDK's docstrings say the API does, and turns it into what to render.
    static func spec(_ body: [String: Any], state: FakeProviderState) async -> Result<VideoSpec, Problem> {
        do throws(Problem) {
            try rejectUnknownKeys(body, allowed: bodyKeys, in: nil)
            let prompt = try string(body, "prompt", in: nil, default: nil)
            let type = try string(body, "type", in: nil, default: "image")
            if type == "video_reframe" { return .success(try await reframeSpec(body, prompt: prompt, state: state)) }
            if otherTypes.contains(type) {
                throw Problem(status: 400, message: "type \(type.debugDescription) is not supported by this fake; use \"video\"")
            }
            guard type == "video" else {
                throw Problem(status: 400, message: "Invalid type \(type.debugDescription); allowed: video, video_reframe, \(otherTypes.joined(separator: ", "))")
            }
            if let field = imageOnlyKeys.sorted().first(where: { body[$0] != nil && !(body[$0] is NSNull) }) {
                throw Problem(status: 400, message: "\(field) is not valid for type video")
            }
            let model = try string(body, "model", in: nil, default: nil)
            guard model == Self.model else {
                throw Problem(status: 400, message: "Invalid model \(model.debugDescription) for type video; allowed: \(Self.model)")
            }
            guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw Problem(status: 400, message: "prompt must not be empty")
            }
            guard prompt.count <= maxPromptCharacters else {
                throw Problem(status: 400, message: "prompt is \(prompt.count) characters; at most \(maxPromptCharacters) are allowed")
            }
            let aspectRatio = try string(body, "aspect_ratio", in: nil, default: "16:9")

            let video: [String: Any]
            switch body["video"] {
            case nil, is NSNull: video = [:]
            case let object as [String: Any]: video = object
            default: throw Problem(status: 422, message: "video: must be an object")
            }
            try rejectUnknownKeys(video, allowed: videoKeys, in: "video")
            for field in ["source_position", "edit"] where video[field] != nil && !(video[field] is NSNull) {
                throw Problem(status: 400, message: "video.\(field) is only valid for type \(field == "edit" ? "video_edit" : "video_reframe")")
            }
            let duration = try string(video, "duration", in: "video", default: "5s")
            let resolution = try string(video, "resolution", in: "video", default: "720p")
            guard let seconds = durations[duration] else {
                throw Problem(status: 400, message: "Invalid video.duration \(duration.debugDescription); allowed: 5s, 10s")
            }
            guard let height = resolutions[resolution] else {
                throw Problem(status: 400, message: "Invalid video.resolution \(resolution.debugDescription); allowed: 360p, 540p, 720p, 1080p")
            }
            guard aspectRatios.contains(aspectRatio), let size = VideoSpec.frameSize(height: height, aspectRatio: aspectRatio) else {
                throw Problem(status: 400, message: "Invalid aspect_ratio \(aspectRatio.debugDescription); allowed: \(aspectRatios.joined(separator: ", "))")
            }
            let loop = try flag(video, "loop"), hdr = try flag(video, "hdr"), exrExport = try flag(video, "exr_export")

            var spec = VideoSpec(width: size.width, height: size.height, seconds: seconds)
            spec.hdr = hdr
            spec.exrExport = exrExport
            let hasKeyframes = video["keyframes"] != nil && !(video["keyframes"] is NSNull)
            if hasKeyframes {
                // The multi-keyframe surface: 1..64 anchors at unique positions of the 24 fps grid.
                if let legacy = ["start_frame", "end_frame"].first(where: { video[$0] != nil && !(video[$0] is NSNull) }) {
                    throw Problem(status: 400, message: "video.keyframes is mutually exclusive with video.\(legacy)")
                }
                if loop { throw Problem(status: 400, message: "video.keyframes is mutually exclusive with video.loop") }
                guard let frames = video["keyframes"] as? [Any] else { throw Problem(status: 422, message: "video.keyframes: must be an array") }
                guard (1...maxKeyframes).contains(frames.count) else {
                    throw Problem(status: 400, message: "video.keyframes has \(frames.count) entries; 1 to \(maxKeyframes) are allowed")
                }
                guard let rawIndexes = video["keyframe_indexes"] as? [Any] else {
                    throw Problem(status: 422, message: "video.keyframe_indexes: field required with video.keyframes (an array of integers)")
                }
                let indexes = try rawIndexes.enumerated().map { i, value throws(Problem) -> Int in
                    guard let index = JSON.integer(value) else {
                        throw Problem(status: 422, message: "video.keyframe_indexes[\(i)]: must be an integer")
                    }
                    return index
                }
                guard indexes.count == frames.count else {
                    throw Problem(status: 400, message: "video.keyframe_indexes has \(indexes.count) entries but video.keyframes has \(frames.count); they must match")
                }
                let last = seconds * VideoSpec.framesPerSecond
                if let bad = indexes.first(where: { !(0...last).contains($0) }) {
                    throw Problem(status: 400, message: "video.keyframe_indexes: \(bad) is off the \(duration) grid (0..\(last) at 24 fps)")
                }
                guard Set(indexes).count == indexes.count else {
                    throw Problem(status: 400, message: "video.keyframe_indexes must be unique")
                }
                for (i, frame) in frames.enumerated() {
                    guard let source = try await self.frame(frame, name: "keyframes[\(i)]", last: indexes[i] == 0, state: state) else {
                        throw Problem(status: 422, message: "video.keyframes[\(i)]: must be an object")
                    }
                    spec.anchors.append(VideoSpec.Anchor(source: source, position: indexes[i]))
                }
                spec.anchors.sort { $0.position < $1.position }
            } else {
                if video["keyframe_indexes"] != nil && !(video["keyframe_indexes"] is NSNull) {
                    throw Problem(status: 400, message: "video.keyframe_indexes needs video.keyframes")
                }
                // The legacy two-frame surface: 5 s and SDR only.
                if seconds == 10 { throw Problem(status: 400, message: "video.duration 10s needs video.keyframes (the start_frame/end_frame surface is 5s only)") }
                if hdr { throw Problem(status: 400, message: "video.hdr needs video.keyframes (the start_frame/end_frame surface is SDR only)") }
                spec.start = try await frame(video["start_frame"], name: "start_frame", last: true, state: state)
                spec.end = try await frame(video["end_frame"], name: "end_frame", last: false, state: state)
                if loop, spec.end != nil {
                    throw Problem(status: 400, message: "video.loop cannot be true when video.end_frame is given")
                }
            }
            if exrExport && !hdr { throw Problem(status: 400, message: "video.exr_export requires video.hdr=true") }
            if hdr && !["720p", "1080p"].contains(resolution) {
                throw Problem(status: 400, message: "video.hdr requires video.resolution 720p or 1080p: \(resolution) is SDR only")
            }
            if loop && (seconds == 10 || hdr) { throw Problem(status: 400, message: "video.loop is not supported with duration 10s or hdr") }
            return .success(spec)
        } catch {
            return .failure(error)
        }
    }

    /// A `video_reframe`: `source: {generation_id}` of a completed ray-3.2 generation, a
    /// top-level `aspect_ratio`, `video.resolution` and an optional `video.source_position`
    /// (`x_norm`, `y_norm` from -2 to 2, `w_norm`, `h_norm` up to 2); no HDR, no keyframes.
    static func reframeSpec(_ body: [String: Any], prompt: String, state: FakeProviderState) async throws(Problem) -> VideoSpec {
        if let field = imageOnlyKeys.subtracting(["source"]).sorted().first(where: { body[$0] != nil && !(body[$0] is NSNull) }) {
            throw Problem(status: 400, message: "\(field) is not valid for type video_reframe")
        }
        let model = try string(body, "model", in: nil, default: nil)
        guard model == Self.model else {
            throw Problem(status: 400, message: "Invalid model \(model.debugDescription) for type video_reframe; allowed: \(Self.model)")
        }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw Problem(status: 400, message: "prompt must not be empty") }
        let aspectRatio = try string(body, "aspect_ratio", in: nil, default: nil)
        let video = body["video"] as? [String: Any] ?? [:]
        let allowed: Set = ["resolution", "source_position"]
        if let field = video.keys.sorted().first(where: { !allowed.contains($0) && !(video[$0] is NSNull) }) {
            let why = field == "hdr" || field == "exr_export" ? "HDR is not supported for video_reframe" : "not valid for type video_reframe"
            throw Problem(status: 400, message: "video.\(field): \(why)")
        }
        let resolution = try string(video, "resolution", in: "video", default: "720p")
        guard let height = resolutions[resolution] else {
            throw Problem(status: 400, message: "Invalid video.resolution \(resolution.debugDescription); allowed: 360p, 540p, 720p, 1080p")
        }
        guard aspectRatios.contains(aspectRatio), let size = VideoSpec.frameSize(height: height, aspectRatio: aspectRatio) else {
            throw Problem(status: 400, message: "Invalid aspect_ratio \(aspectRatio.debugDescription); allowed: \(aspectRatios.joined(separator: ", "))")
        }
        guard let source = body["source"] as? [String: Any] else { throw Problem(status: 422, message: "source: field required for video_reframe") }
        guard let id = source["generation_id"] as? String, source.count == 1 else {
            throw Problem(status: 400, message: "source: this fake reframes generations only: give exactly {generation_id}")
        }
        guard let generation = await state.generation(id.lowercased(), api: .lumaAgents), let clip = generation.video else {
            throw Problem(status: 400, message: "source: generation \(id) not found or not completed")
        }
        var spec = VideoSpec(width: size.width, height: size.height, seconds: generation.spec.seconds)
        spec.reframeSource = clip.path
        if let position = video["source_position"], !(position is NSNull) {
            guard let object = position as? [String: Any] else { throw Problem(status: 422, message: "video.source_position: must be an object") }
            var values: [Double] = []
            for key in ["x_norm", "y_norm", "w_norm", "h_norm"] {
                guard let number = object[key] as? NSNumber else { throw Problem(status: 422, message: "video.source_position.\(key): field required (a number)") }
                let value = number.doubleValue
                let valid = key.hasPrefix("w") || key.hasPrefix("h") ? (value > 0 && value <= 2) : (value >= -2 && value <= 2)
                guard valid else { throw Problem(status: 400, message: "video.source_position.\(key): \(value) is out of range") }
                values.append(value)
            }
            spec.reframePosition = values
        }
        return spec
    }

    private static func flag(_ object: [String: Any], _ key: String) throws(Problem) -> Bool {
        guard let value = object[key], !(value is NSNull) else { return false }
        guard let flag = JSON.bool(value) else { throw Problem(status: 422, message: "video.\(key): must be a boolean") }
        return flag
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

    /// One image reference (`video.start_frame`, `video.end_frame`, `video.keyframes[i]`):
    /// exactly one of `{url}`, `{data, media_type}`, `{generation_id}` of a completed ray-3.2
    /// generation (its last frame where `last`, else its first), or `{file_id}` of a ready file.
    private static func frame(_ value: Any?, name: String, last: Bool, state: FakeProviderState) async throws(Problem) -> FrameSource? {
        guard let value, !(value is NSNull) else { return nil }
        let field = "video.\(name)"
        guard let object = value as? [String: Any] else { throw Problem(status: 422, message: "\(field): must be an object") }
        try rejectUnknownKeys(object, allowed: frameKeys, in: field)
        let given = ["url", "data", "generation_id", "file_id"].filter { object[$0] != nil && !(object[$0] is NSNull) }
        guard given.count == 1 else {
            throw Problem(status: 400, message: "\(field) must have exactly one of url, data, generation_id or file_id (got \(given.isEmpty ? "none" : given.joined(separator: ", ")))")
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
        case "file_id":
            guard let id = object["file_id"] as? String else { throw Problem(status: 422, message: "\(field).file_id: must be a string") }
            guard let bytes = await state.readyFileBytes(id) else {
                throw Problem(status: 400, message: "\(field): file \(id) not found or not ready (it must be owned by this client and in state=ready)")
            }
            return .imageData(bytes)
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
            return .videoFrame(path: video.path, last: last)
        }
    }

    /// The generation as `POST /generations` and `GET /generations/{id}` return it.
    /// Its outputs are presigned URLs valid for `lifetime` seconds from this answer, as the
    /// API's expire after an hour: a client reads the generation again for fresh ones.
    static func object(_ generation: FakeGeneration, origin: String, lifetime: Int, secret: String) -> [String: Any] {
        var output: [[String: Any]] = []
        if let video = generation.video {
            output = [["type": "video", "url": PresignedURL.url(origin: origin, id: generation.id, lifetime: lifetime, secret: secret)]]
            // The EXR export's place in `output` is not published; the fake lists it as type `exr`.
            if video.exrArchive != nil {
                output.append(["type": "exr", "url": PresignedURL.url(origin: origin, id: generation.id, suffix: ".exr.zip",
                                                                     lifetime: lifetime, secret: secret)])
            }
        }
        let state = switch generation.state {
        case .queued: "queued"
        case .dreaming: "processing"
        case .completed: "completed"
        case .failed: "failed"
        }
        return [
            "id": generation.id,
            "type": generation.spec.reframeSource == nil ? "video" : "video_reframe",
            "model": generation.model,
            "state": state,
            "created_at": JSON.timestamp(generation.createdAt),
            "failure_code": failureCode(generation) ?? NSNull(),
            "failure_reason": generation.failureReason ?? NSNull(),
            "output": output,
        ]
    }

    /// The SDK's `failure_code` for a failed generation: `content_moderated`, `corrupt_input`
    /// (a keyframe that could not be read), or `generation_failed`; a `fail_generation` fault
    /// whose reason is one of the SDK's codes fails with that code.
    static let failureCodes: Set = ["content_moderated", "generation_failed", "budget_exhausted", "output_not_found",
                                    "image_too_large", "unsupported_format", "corrupt_input", "invalid_request", "rate_limited"]

    static func failureCode(_ generation: FakeGeneration) -> String? {
        guard generation.state == .failed else { return nil }
        if generation.failureReason == FakeFault.moderationReason { return "content_moderated" }
        if let reason = generation.failureReason, failureCodes.contains(reason) { return reason }
        if generation.failureCause == .imageFetch { return "corrupt_input" }
        return "generation_failed"
    }

    /// The API's error body, `{"detail": ...}`, with its status.
    static func error(_ status: Int, _ message: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        JSON.detail(status, message, headers: headers)
    }
}
