import Foundation
import KeyfarmCore
import KeyfarmProviders
import Testing

/// The request bodies each adapter builds, field by field as the providers publish them.
@Suite struct VideoAPIBodyTests {
    /// A body as it goes on the wire (keys sorted, as the adapters send it), read back as JSON.
    static func wire(_ body: some Encodable) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try #require(try JSONSerialization.jsonObject(with: encoder.encode(body)) as? [String: Any])
    }

    static let request = VideoRequest(model: "ray-2", prompt: "the ball rolls", start: .url("https://cdn.example/a.png"),
                                      end: .generation(id: "0b7c"), resolution: "720p", aspect: "16:9", seconds: 9)

    @Test func lumaDreamMachineUsesKeyframesAndLumasDurations() throws {
        let body = try Self.wire(try LumaDreamMachine.body(Self.request))
        #expect(body["model"] as? String == "ray-2" && body["generation_type"] as? String == "video")
        #expect(body["duration"] as? String == "9s" && body["loop"] as? Bool == false)
        #expect(body["resolution"] as? String == "720p" && body["aspect_ratio"] as? String == "16:9")
        let keyframes = body["keyframes"] as? [String: [String: String]]
        #expect(keyframes?["frame0"] == ["type": "image", "url": "https://cdn.example/a.png"])
        #expect(keyframes?["frame1"] == ["type": "generation", "id": "0b7c"])
        var textOnly = Self.request
        textOnly.start = nil
        textOnly.end = nil
        #expect(try Self.wire(try LumaDreamMachine.body(textOnly))["keyframes"] == nil)
        // Inline images and uploaded files are not Dream Machine's: refused before anything is sent.
        textOnly.end = .inline(bytes: [1], mediaType: "image/png")
        #expect(throws: ProviderErrorClassifier.Verdict.self) { _ = try LumaDreamMachine.body(textOnly) }
    }

    @Test func lumaAgentsNestsAVideoObjectWithInlineFrames() throws {
        var request = Self.request
        request.model = "ray-3.2"
        request.seconds = 10
        request.start = .inline(bytes: [0x89, 0x50, 0x4E, 0x47], mediaType: "image/png")
        let body = try Self.wire(LumaAgents.body(request))
        #expect(body["type"] as? String == "video" && body["model"] as? String == "ray-3.2")
        let video = try #require(body["video"] as? [String: Any])
        #expect(video["duration"] as? String == "10s")
        #expect(video["start_frame"] as? [String: String] == ["data": "iVBORw==", "media_type": "image/png"])
        #expect(video["end_frame"] as? [String: String] == ["generation_id": "0b7c"])
    }

    /// fal's models name their inputs per model, as ModelInputTable lists them.
    @Test func lumaAgentsTagsTheGenerationWithTheFarmsJobAndOtherAPIsDoNot() throws {
        var request = Self.request
        request.model = "ray-3.2"
        #expect(try Self.wire(LumaAgents.body(request))["user_id"] == nil)
        request.tag = "keyfarm-job-42"
        #expect(try Self.wire(LumaAgents.body(request))["user_id"] as? String == "keyfarm-job-42")
        request.reframeSource = "0b7c"
        request.reframePosition = [-0.25, 0, 1.5, 1]
        let reframe = try Self.wire(LumaAgents.body(request))
        #expect(reframe["user_id"] as? String == "keyfarm-job-42" && reframe["type"] as? String == "video_reframe")
        #expect(reframe["source"] as? [String: String] == ["generation_id": "0b7c"])
        let video = try #require(reframe["video"] as? [String: Any])
        #expect(video["duration"] == nil && video["resolution"] as? String == "720p")
        #expect(video["source_position"] as? [String: Double] == ["x_norm": -0.25, "y_norm": 0, "w_norm": 1.5, "h_norm": 1])
        request.model = "ray-2"
        #expect(try Self.wire(try LumaDreamMachine.body(request))["user_id"] == nil)
    }

    @Test func falNamesItsInputsPerModel() throws {
        var request = Self.request
        request.end = .url("https://cdn.example/b.png")
        request.seconds = 10
        request.model = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video"
        let kling = try Self.wire(try FalQueue.body(request))
        #expect(kling["image_url"] as? String == "https://cdn.example/a.png")
        #expect(kling["tail_image_url"] as? String == "https://cdn.example/b.png")
        #expect(kling["duration"] as? String == "10" && kling["resolution"] == nil && kling["aspect_ratio"] == nil)

        // Kling 2.6 and 3 renamed both image fields.
        for model in ["fal-ai/kling-video/v2.6/pro/image-to-video", "fal-ai/kling-video/v3/pro/image-to-video"] {
            request.model = model
            let body = try Self.wire(try FalQueue.body(request))
            #expect(body["start_image_url"] as? String == "https://cdn.example/a.png", "\(model)")
            #expect(body["end_image_url"] as? String == "https://cdn.example/b.png", "\(model)")
            #expect(body["image_url"] == nil && body["tail_image_url"] == nil, "\(model)")
        }

        request.model = "fal-ai/luma-dream-machine/ray-2/image-to-video"
        request.seconds = 5
        request.resolution = "540p"
        let luma = try Self.wire(try FalQueue.body(request))
        #expect(luma["end_image_url"] as? String == "https://cdn.example/b.png" && luma["tail_image_url"] == nil)
        #expect(luma["duration"] as? String == "5s" && luma["aspect_ratio"] as? String == "16:9")
        #expect(luma["resolution"] as? String == "540p")
    }

    /// An end image for a model with no known end field is refused, naming the model and the fix.
    @Test func anEndImageWithoutAnEndFieldIsRefused() throws {
        var request = Self.request
        request.end = .url("https://cdn.example/b.png")
        request.seconds = 5
        for model in ["fal-ai/kling-video/v1/standard/image-to-video", "fal-ai/some/new-model"] {
            request.model = model
            do {
                _ = try FalQueue.body(request)
                Issue.record("\(model): an end image must be refused")
            } catch {
                #expect(error.errorClass == .invalid)
                #expect(error.message.contains("fal/\(model) has no known end-frame field"), "\(error.message)")
                #expect(error.message.contains("keyfarm providers model set fal/\(model)"), "\(error.message)")
            }
        }
        // Without an end image, an unknown model gets fal's usual start field, resolution and aspect ratio.
        request.end = nil
        let body = try Self.wire(try FalQueue.body(request))
        #expect(body["image_url"] as? String == "https://cdn.example/a.png")
        #expect(body["duration"] as? String == "5" && body["resolution"] as? String == "720p" && body["aspect_ratio"] as? String == "16:9")
    }

    @Test func waveSpeedNamesItsInputsPerModel() throws {
        var request = Self.request
        request.model = "kwaivgi/kling-v2.1-i2v-pro"
        request.start = .inline(bytes: [1, 2, 3], mediaType: "image/jpeg")
        request.end = .url("https://cdn.example/b.png")
        request.seconds = 5
        let kling = try Self.wire(try WaveSpeed.body(request))
        #expect(kling["image"] as? String == "data:image/jpeg;base64,AQID")
        #expect(kling["end_image"] as? String == "https://cdn.example/b.png" && kling["last_image"] == nil)
        #expect(kling["duration"] as? Int == 5 && kling["resolution"] == nil)
        // Kling 2.5 Turbo Pro on WaveSpeed takes last_image, not end_image.
        request.model = "kwaivgi/kling-v2.5-turbo-pro/image-to-video"
        let turbo = try Self.wire(try WaveSpeed.body(request))
        #expect(turbo["last_image"] as? String == "https://cdn.example/b.png" && turbo["end_image"] == nil)
        request.model = "wavespeed-ai/wan-2.2/i2v-720p"
        let wan = try Self.wire(try WaveSpeed.body(request))
        #expect(wan["last_image"] as? String == "https://cdn.example/b.png" && wan["end_image"] == nil)
        // Luma on WaveSpeed: a size in place of a resolution, and no end frame.
        request.model = "luma/ray-2-i2v"
        request.end = nil
        request.resolution = "540p"
        request.aspect = "9:16"
        let luma = try Self.wire(try WaveSpeed.body(request))
        #expect(luma["size"] as? String == "720*1280" && luma["resolution"] == nil && luma["aspect_ratio"] == nil)
        // WaveSpeed has no 540p: an unknown model is asked for the next sharper, 720p.
        request.model = "someone/new-i2v"
        let unknown = try Self.wire(try WaveSpeed.body(request))
        #expect(unknown["resolution"] as? String == "720p" && unknown["aspect_ratio"] as? String == "9:16")
        #expect(unknown["image"] as? String == "data:image/jpeg;base64,AQID")
    }

    /// The mapping the job's spec carries (an operator's) wins over the built-in table, and
    /// survives the spec's JSON.
    @Test func theSpecsMappingWinsAndRoundTrips() throws {
        let mapping = ModelInputs(startField: "first_frame", endField: "last_frame", duration: .luma,
                                  resolutionField: .size, resolutions: ["1920*1080", "1080*1920"], aspectField: nil)
        let data = try JSONEncoder().encode(mapping)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["end_field"] as? String == "last_frame" && object["aspect_field"] is NSNull)
        #expect(try JSONDecoder().decode(ModelInputs.self, from: data) == mapping)

        var request = Self.request
        request.model = "kwaivgi/kling-v2.1-i2v-pro"
        request.end = .url("https://cdn.example/b.png")
        request.resolution = "1080p"
        request.inputs = mapping
        let typed = try WaveSpeed.body(request)
        #expect(typed.start == ModelBody.Field("first_frame", "https://cdn.example/a.png") && typed["last_frame"] == "https://cdn.example/b.png")
        let body = try Self.wire(typed)
        #expect(body["first_frame"] as? String == "https://cdn.example/a.png")
        #expect(body["last_frame"] as? String == "https://cdn.example/b.png" && body["end_image"] == nil)
        #expect(body["duration"] as? String == "9s" && body["size"] as? String == "1920*1080")
    }

    @Test func enginesMapToTheirModelsAndAKeyIsNeeded() throws {
        #expect(VideoAPIs.model(for: .lumaRayFlash2) == "ray-flash-2")
        #expect(VideoAPIs.model(for: try #require(Engine(name: "fal/fal-ai/x/y"))) == "fal-ai/x/y")
        #expect(VideoAPIs.model(for: .interpolate) == nil)
        let client = try HTTPClient(logger: .init(label: "test"))
        #expect(throws: ProviderErrorClassifier.Verdict.self) {
            _ = try VideoAPIs.make(for: .lumaRay2, endpoints: .defaults, secrets: ProviderSecrets(environment: [:]), client: client)
        }
        let api = try VideoAPIs.make(for: .lumaRay32, endpoints: .defaults,
                                     secrets: ProviderSecrets(environment: ["LUMA_API_KEY": "k"]), client: client)
        #expect(api.api == "luma-agents" && api.frameKinds.contains(.inline))
    }
}
