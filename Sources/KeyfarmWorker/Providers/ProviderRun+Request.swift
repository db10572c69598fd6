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
        guard let seconds = spec.durationBucket else {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "the job's spec has no duration_bucket")
        }
        let prompt = spec.prompt.flatMap { $0.isEmpty ? nil : $0 } ?? ProviderEngine.defaultPrompt
        let resolution = spec.resolution.rawValue, aspect = spec.aspect.rawValue
        if let reframe = spec.reframe, let source = reframe.of {
            return try reframeRequest(model: model, prompt: prompt, resolution: resolution, aspect: aspect, seconds: seconds,
                                      reframe: reframe, source: source, api: api)
        }
        if engine.takesManyKeyframes {
            // Every keyframe the planner put in this generation, at its grid position.
            let anchors = try (spec.anchors ?? []).enumerated().map { i, anchor throws -> AnchoredFrame in
                guard anchor.position >= 0, anchor.position <= seconds * 24 else {
                    throw ProviderErrorClassifier.Verdict(
                        errorClass: .invalid, message: "the job's spec: anchors[\(i)] has no position on the \(seconds) s grid (0...\(seconds * 24))")
                }
                let role = anchor.keyframe.map { "keyframe \($0)" } ?? "continuity frame"
                guard let input = try frame(anchor.image, role: role, api: api) else {
                    throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "the job's spec: anchors[\(i)] has no image")
                }
                return AnchoredFrame(input, at: anchor.position)
            }
            return VideoRequest(model: model, prompt: prompt, resolution: resolution, aspect: aspect, seconds: seconds,
                                anchors: anchors, hdr: spec.hdr, exrExport: spec.exrExport)
        }
        return VideoRequest(model: model, prompt: prompt,
                            start: try frame(spec.startImage, role: "start", api: api),
                            end: try frame(spec.endImage, role: "end", api: api),
                            resolution: resolution, aspect: aspect, seconds: seconds, inputs: spec.modelInputs)
    }

    /// One keyframe of the spec as the API takes it.
    func frame(_ image: JobSpec.Image?, role: String, api: any VideoAPI) throws -> FrameInput? {
        guard let image else { return nil }
        switch image {
        case .url(let url):
            return .url(url)
        case .file(let path, _):
            return try publish(path, role: role, api: api)
        case .lastFrameOf(let key):
            let inputs = spec.inputs[key] ?? []
            // The same API can continue its own generation by id: no frame is re-uploaded.
            if api.frameKinds.contains(.generation), !continueByImage,
               let record = inputs.first(where: { $0.mediaType == GenerationRecord.mediaType }),
               let generation = GenerationRecord.read(job.storage + "/" + record.path), generation.api == api.api,
               generation.trimmed != true {
                return .generation(id: generation.requestID)
            }
            guard let last = inputs.last(where: { $0.mediaType == "image/png" }) else {
                throw ProviderErrorClassifier.Verdict(
                    errorClass: .transient, message: "\(role) image: \(key) has reported no last frame yet")
            }
            return try publish(job.storage + "/" + last.path, role: role, api: api)
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
                        reframe: JobSpec.Reframe, source: String, api: any VideoAPI) throws -> VideoRequest {
        let inputs = spec.inputs[source] ?? []
        guard let record = inputs.first(where: { $0.mediaType == GenerationRecord.mediaType }),
              let generation = GenerationRecord.read(job.storage + "/" + record.path) else {
            throw ProviderErrorClassifier.Verdict(errorClass: .transient,
                                                  message: "reframe: \(source) has reported no generation record yet")
        }
        guard generation.api == api.api else {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid,
                                                  message: "reframe: \(source) was rendered on \(generation.api), which \(api.api) cannot reframe")
        }
        var request = VideoRequest(model: model, prompt: prompt, resolution: resolution, aspect: aspect, seconds: seconds)
        request.reframeSource = generation.requestID
        if case .rect(let x, let y, let w, let h) = reframe.position {
            request.reframePosition = [x, y, w, h]
        }
        return request
    }
}
