import FlyingFox
import Foundation

/// Luma's Dream Machine API under `/dream-machine/v1`: create a video generation with
/// keyframes, poll it (queued, dreaming, completed or failed), delete it.
struct LumaDreamMachineAPI: Sendable {
    let state: FakeProviderState

    static let models = ["ray-2", "ray-flash-2"]
    static let resolutions = ["540p": 540, "720p": 720, "1080p": 1080, "4k": 2160]
    static let durations = ["5s": 5, "9s": 9]
    static let aspectRatios = ["1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"]

    func handle(_ call: Router.Call, forcedFailure: ForcedEnd?) async -> HTTPResponse {
        guard call.sendsCredential(scheme: "Bearer") else {
            return JSON.detail(401, "Invalid or missing API key: send Authorization: Bearer <key>")
        }
        let route = Array(call.segments.dropFirst(2))
        if call.method == "POST", route == ["generations", "video"] {
            return await create(call, forcedFailure: forcedFailure)
        }
        if call.method == "GET", route == ["generations"] { return await list(call) }
        guard route.count == 2, route[0] == "generations" else { return JSON.detail(404, "Not Found") }
        return await Router.generation(route[1], call, api: .luma, state: state,
                                       error: { JSON.detail($0, $1) }, object: Self.object)
    }

    /// `GET /generations?limit=&offset=`: the account's generations, newest first, as the
    /// `lumaai` SDK's `generations.list` reads them (`generations`, `count`, `has_more`,
    /// `limit`, `offset`).
    private func list(_ call: Router.Call) async -> HTTPResponse {
        var limit = 10, offset = 0
        if let text = call.query["limit"] {
            guard let value = Int(text), (1...100).contains(value) else {
                return JSON.detail(422, "limit must be an integer between 1 and 100")
            }
            limit = value
        }
        if let text = call.query["offset"] {
            guard let value = Int(text), value >= 0 else { return JSON.detail(422, "offset must be a non-negative integer") }
            offset = value
        }
        let all = await state.generations(api: .luma)
        let page = Array(all.dropFirst(offset).prefix(limit))
        return JSON.response(200, [
            "generations": page.map { Self.object($0, origin: call.origin) }, "count": page.count,
            "has_more": offset + page.count < all.count, "limit": limit, "offset": offset,
        ] as [String: Any])
    }

    private func create(_ call: Router.Call, forcedFailure: ForcedEnd?) async -> HTTPResponse {
        guard let body = JSON.object(call.body) else { return JSON.detail(400, "Invalid request body: expected a JSON object") }
        switch await Self.spec(body, state: state) {
        case .failure(let problem):
            return JSON.detail(problem.status, problem.message)
        case .success(let spec):
            let model = body["model"] as? String ?? "ray-2"
            let generation = await state.create(api: .luma, model: model, request: call.body, spec: spec,
                                                forcedFailure: forcedFailure)
            return JSON.response(201, Self.object(generation, origin: call.origin))
        }
    }

    /// A bad request: 400 for a value the API does not accept, 422 for a missing or mistyped field.
    struct Problem: Error {
        var status: Int
        var message: String
    }

    /// Validates a create body the way the real API does and turns it into what to render.
    static func spec(_ body: [String: Any], state: FakeProviderState) async -> Result<VideoSpec, Problem> {
        func field(_ name: String, default fallback: String?) -> Result<String, Problem> {
            switch body[name] {
            case nil, is NSNull:
                if let fallback { return .success(fallback) }
                return .failure(Problem(status: 422, message: "\(name): Field required"))
            case let value as String: return .success(value)
            default: return .failure(Problem(status: 422, message: "\(name): Input should be a valid string"))
            }
        }
        let prompt: String, model: String, resolution: String, duration: String, aspectRatio: String
        do {
            prompt = try field("prompt", default: nil).get()
            model = try field("model", default: nil).get()
            resolution = try field("resolution", default: "720p").get()
            duration = try field("duration", default: "5s").get()
            aspectRatio = try field("aspect_ratio", default: "16:9").get()
        } catch {
            return .failure(error)
        }
        if prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return .failure(Problem(status: 400, message: "prompt must not be empty"))
        }
        guard models.contains(model) else {
            return .failure(Problem(status: 400, message: "Invalid model \(model.debugDescription); allowed: \(models.joined(separator: ", "))"))
        }
        guard let height = resolutions[resolution] else {
            return .failure(Problem(status: 400, message: "Invalid resolution \(resolution.debugDescription); allowed: 540p, 720p, 1080p, 4k"))
        }
        guard let seconds = durations[duration] else {
            return .failure(Problem(status: 400, message: "Invalid duration \(duration.debugDescription); allowed: 5s, 9s"))
        }
        guard aspectRatios.contains(aspectRatio), let size = VideoSpec.frameSize(height: height, aspectRatio: aspectRatio) else {
            return .failure(Problem(status: 400, message: "Invalid aspect_ratio \(aspectRatio.debugDescription); allowed: \(aspectRatios.joined(separator: ", "))"))
        }
        var spec = VideoSpec(width: size.width, height: size.height, seconds: seconds)
        switch body["keyframes"] {
        case nil, is NSNull:
            break
        case let keyframes as [String: Any]:
            for name in keyframes.keys where name != "frame0" && name != "frame1" {
                return .failure(Problem(status: 400, message: "keyframes.\(name): only frame0 and frame1 are allowed"))
            }
            do {
                spec.start = try await keyframe(keyframes["frame0"], name: "frame0", last: true, state: state)
                spec.end = try await keyframe(keyframes["frame1"], name: "frame1", last: false, state: state)
            } catch let problem as Problem {
                return .failure(problem)
            } catch {
                return .failure(Problem(status: 400, message: "\(error)"))
            }
        default:
            return .failure(Problem(status: 422, message: "keyframes: Input should be an object"))
        }
        return .success(spec)
    }

    /// One keyframe: `{type: image, url}` or `{type: generation, id}` of a completed generation
    /// (whose last frame starts the clip as frame0, whose first frame ends it as frame1).
    private static func keyframe(_ value: Any?, name: String, last: Bool, state: FakeProviderState) async throws -> FrameSource? {
        guard let value, !(value is NSNull) else { return nil }
        guard let object = value as? [String: Any] else {
            throw Problem(status: 422, message: "keyframes.\(name): Input should be an object")
        }
        switch object["type"] as? String {
        case "image":
            guard let url = object["url"] as? String, let parsed = URL(string: url),
                  ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
                throw Problem(status: 400, message: "keyframes.\(name).url must be an http or https URL")
            }
            return .imageURL(url)
        case "generation":
            guard let id = object["id"] as? String else {
                throw Problem(status: 422, message: "keyframes.\(name).id: Field required")
            }
            guard let generation = await state.generation(id.lowercased(), api: .luma) else {
                throw Problem(status: 400, message: "keyframes.\(name): generation \(id) not found")
            }
            guard let video = generation.video else {
                throw Problem(status: 400, message: "keyframes.\(name): generation \(id) is not completed")
            }
            return .videoFrame(path: video.path, last: last)
        default:
            throw Problem(status: 422, message: "keyframes.\(name).type must be \"image\" or \"generation\"")
        }
    }

    /// The generation object as `GET /generations/{id}` returns it.
    static func object(_ generation: FakeGeneration, origin: String) -> [String: Any] {
        var assets: Any = NSNull()
        if generation.video != nil {
            assets = ["video": "\(origin)/files/\(generation.id).mp4", "image": NSNull(), "progress_video": NSNull()] as [String: Any]
        }
        return [
            "id": generation.id,
            "generation_type": "video",
            "state": generation.state.rawValue,
            "failure_reason": generation.failureReason ?? NSNull(),
            "created_at": JSON.timestamp(generation.createdAt),
            "assets": assets,
            "model": generation.model,
            "request": (try? JSONSerialization.jsonObject(with: generation.request)) ?? NSNull(),
        ]
    }
}
