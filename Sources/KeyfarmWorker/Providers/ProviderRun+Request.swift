import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmProviders

/// Building a segment's provider request from its job spec: model, prompt, framing,
/// duration, keyframes as the API takes them, and the model's input fields.
extension ProviderRun {
    /// The API's request for this segment: model, prompt, framing, duration and keyframes.
    func buildRequest(engine: Engine, api: any VideoAPI) throws -> VideoRequest {
        guard let model = VideoAPIs.model(for: engine) else {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "\(engine) has no provider model")
        }
        guard let seconds = (spec["duration_bucket"] as? NSNumber)?.intValue else {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "the job's spec has no duration_bucket")
        }
        let prompt = (spec["prompt"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? ProviderEngine.defaultPrompt
        let resolution = spec["resolution"] as? String ?? "720p", aspect = spec["aspect"] as? String ?? "16:9"
        if let reframe = spec["reframe"] as? [String: Any], let source = reframe["of"] as? String {
            return try reframeRequest(model: model, prompt: prompt, resolution: resolution, aspect: aspect, seconds: seconds,
                                      reframe: reframe, source: source, api: api)
        }
        if engine.takesManyKeyframes {
            // Every keyframe the planner put in this generation, at its grid position.
            let documents = spec["anchors"] as? [[String: Any]] ?? []
            let anchors = try documents.enumerated().map { i, anchor throws -> AnchoredFrame in
                guard let position = (anchor["position"] as? NSNumber)?.intValue, position >= 0, position <= seconds * 24 else {
                    throw ProviderErrorClassifier.Verdict(
                        errorClass: .invalid, message: "the job's spec: anchors[\(i)] has no position on the \(seconds) s grid (0...\(seconds * 24))")
                }
                let role = (anchor["keyframe"] as? NSNumber).map { "keyframe \($0.intValue)" } ?? "continuity frame"
                guard let input = try frame(anchor["image"], role: role, api: api) else {
                    throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "the job's spec: anchors[\(i)] has no image")
                }
                return AnchoredFrame(input, at: position)
            }
            return VideoRequest(model: model, prompt: prompt, resolution: resolution, aspect: aspect, seconds: seconds,
                                anchors: anchors, hdr: spec["hdr"] as? Bool == true,
                                exrExport: spec["exr_export"] as? Bool == true)
        }
        return VideoRequest(model: model, prompt: prompt,
                            start: try frame(spec["start_image"], role: "start", api: api),
                            end: try frame(spec["end_image"], role: "end", api: api),
                            resolution: resolution, aspect: aspect, seconds: seconds, inputs: try modelInputs())
    }

    /// The model's input fields as `keyfarm submit` resolved them into the spec (an
    /// operator's mapping included); nil when the spec has none (the adapter then uses the
    /// built-in table).
    func modelInputs() throws -> ModelInputs? {
        guard let document = spec["model_inputs"], !(document is NSNull) else { return nil }
        guard JSONSerialization.isValidJSONObject(document),
              let data = try? JSONSerialization.data(withJSONObject: document) else {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "the job's spec: model_inputs is not an object")
        }
        do {
            return try JSONDecoder().decode(ModelInputs.self, from: data)
        } catch {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "the job's spec: model_inputs cannot be read: \(error)")
        }
    }

    /// One keyframe of the spec as the API takes it.
    func frame(_ value: Any?, role: String, api: any VideoAPI) throws -> FrameInput? {
        guard let image = value as? [String: Any] else { return nil }
        let refuse = { (message: String) in
            ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "\(role) image: \(message)")
        }
        switch image["kind"] as? String {
        case "url":
            guard let url = image["url"] as? String else { throw refuse("no url") }
            return .url(url)
        case "file":
            guard let path = image["path"] as? String else { throw refuse("no path") }
            return try publish(path, role: role, api: api)
        case "last_frame_of":
            guard let key = image["job"] as? String else { throw refuse("no job") }
            let inputs = (spec["inputs"] as? [String: Any])?[key] as? [[String: Any]] ?? []
            // The same API can continue its own generation by id: no frame is re-uploaded.
            if api.frameKinds.contains(.generation),
               let record = inputs.first(where: { $0["media_type"] as? String == GenerationRecord.mediaType }),
               let path = record["path"] as? String,
               let generation = GenerationRecord.read(job.storage + "/" + path), generation.api == api.api,
               generation.trimmed != true {
                return .generation(id: generation.requestID)
            }
            guard let last = inputs.last(where: { $0["media_type"] as? String == "image/png" }),
                  let path = last["path"] as? String else {
                throw ProviderErrorClassifier.Verdict(
                    errorClass: .transient, message: "\(role) image: \(key) has reported no last frame yet")
            }
            return try publish(job.storage + "/" + path, role: role, api: api)
        default:
            throw refuse("unknown kind \(String(describing: image["kind"]))")
        }
    }

    /// A local image as the API can receive it: inline, or a signed URL of the artifact server.
    func publish(_ path: String, role: String, api: any VideoAPI) throws -> FrameInput {
        switch KeyframeFile.read(path) {
        case .failure(let problem):
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "\(role) image: \(problem)")
        case .success(let file):
            // An API that keeps files gets each distinct image once per account: by the id the
            // farm recorded, else uploaded now and reported.
            if api.frameKinds.contains(.file), let uploader = api as? any FileUploading {
                let sha = Checksum.sha256Hex(Data(file.bytes))
                if let id = files.ids[sha] { return .file(id: id) }
                let id = try uploader.upload(file.bytes, mediaType: file.mediaType,
                                             filename: (path as NSString).lastPathComponent)
                files.ids[sha] = id
                context.uploadedFile(sha256: sha, fileID: id)
                logger.info("keyframe uploaded to the provider's files", metadata: ["provider.file_id": "\(id)", "file.sha256": "\(sha)"])
                return .file(id: id)
            }
            if api.frameKinds.contains(.inline) { return .inline(bytes: file.bytes, mediaType: file.mediaType) }
            if let signer = settings.signer { return .url(signer.url(for: path)) }
            throw ProviderErrorClassifier.Verdict(
                errorClass: .invalid,
                message: "\(role) image: \(job.engine) fetches keyframes by URL; start this worker with --serve-artifacts HOST:PORT --public-url URL, or give https URLs in the shot list")
        }
    }

    /// A reframe of the generation job `source` rendered: that job's generation id, from its
    /// record, on the same API.
    func reframeRequest(model: String, prompt: String, resolution: String, aspect: String, seconds: Int,
                        reframe: [String: Any], source: String, api: any VideoAPI) throws -> VideoRequest {
        let inputs = (spec["inputs"] as? [String: Any])?[source] as? [[String: Any]] ?? []
        guard let record = inputs.first(where: { $0["media_type"] as? String == GenerationRecord.mediaType }),
              let path = record["path"] as? String, let generation = GenerationRecord.read(job.storage + "/" + path) else {
            throw ProviderErrorClassifier.Verdict(errorClass: .transient,
                                                  message: "reframe: \(source) has reported no generation record yet")
        }
        guard generation.api == api.api else {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid,
                                                  message: "reframe: \(source) was rendered on \(generation.api), which \(api.api) cannot reframe")
        }
        var request = VideoRequest(model: model, prompt: prompt, resolution: resolution, aspect: aspect, seconds: seconds)
        request.reframeSource = generation.requestID
        if let position = reframe["position"] as? [String: Any] {
            request.reframePosition = ["x_norm", "y_norm", "w_norm", "h_norm"].map { (position[$0] as? NSNumber)?.doubleValue ?? 0 }
        }
        return request
    }
}
