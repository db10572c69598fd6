import Foundation
import KeyfarmCore
import KeyfarmProviders
import Testing

/// The request bodies each adapter builds, field by field as the providers publish them.
@Suite struct VideoAPIBodyTests {
    static let request = VideoRequest(model: "ray-2", prompt: "the ball rolls", start: .url("https://cdn.example/a.png"),
                                      end: .generation(id: "0b7c"), resolution: "720p", aspect: "16:9", seconds: 9)

    @Test func lumaDreamMachineUsesKeyframesAndLumasDurations() {
        let body = LumaDreamMachine.body(Self.request)
        #expect(body["model"] as? String == "ray-2")
        #expect(body["duration"] as? String == "9s")
        #expect(body["resolution"] as? String == "720p" && body["aspect_ratio"] as? String == "16:9")
        let keyframes = body["keyframes"] as? [String: [String: String]]
        #expect(keyframes?["frame0"] == ["type": "image", "url": "https://cdn.example/a.png"])
        #expect(keyframes?["frame1"] == ["type": "generation", "id": "0b7c"])
        var textOnly = Self.request
        textOnly.start = nil
        textOnly.end = nil
        #expect(LumaDreamMachine.body(textOnly)["keyframes"] == nil)
    }

    @Test func lumaAgentsNestsAVideoObjectWithInlineFrames() throws {
        var request = Self.request
        request.model = "ray-3.2"
        request.seconds = 10
        request.start = .inline(bytes: [0x89, 0x50, 0x4E, 0x47], mediaType: "image/png")
        let body = LumaAgents.body(request)
        #expect(body["type"] as? String == "video" && body["model"] as? String == "ray-3.2")
        let video = try #require(body["video"] as? [String: Any])
        #expect(video["duration"] as? String == "10s")
        #expect(video["start_frame"] as? [String: String] == ["data": "iVBORw==", "media_type": "image/png"])
        #expect(video["end_frame"] as? [String: String] == ["generation_id": "0b7c"])
    }

    @Test func falNamesTheEndImagePerModel() {
        var request = Self.request
        request.end = .url("https://cdn.example/b.png")
        request.seconds = 10
        request.model = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video"
        let kling = FalQueue.body(request)
        #expect(kling["image_url"] as? String == "https://cdn.example/a.png")
        #expect(kling["tail_image_url"] as? String == "https://cdn.example/b.png")
        #expect(kling["duration"] as? String == "10" && kling["resolution"] == nil && kling["aspect_ratio"] == nil)
        request.model = "fal-ai/luma-dream-machine/ray-2/image-to-video"
        request.seconds = 5
        let luma = FalQueue.body(request)
        #expect(luma["end_image_url"] as? String == "https://cdn.example/b.png" && luma["tail_image_url"] == nil)
        #expect(luma["duration"] as? String == "5s" && luma["aspect_ratio"] as? String == "16:9")
    }

    @Test func waveSpeedSendsDataURIsAndAnIntegerDuration() {
        var request = Self.request
        request.model = "kwaivgi/kling-v2.1-i2v-pro"
        request.start = .inline(bytes: [1, 2, 3], mediaType: "image/jpeg")
        request.end = .url("https://cdn.example/b.png")
        request.seconds = 5
        let kling = WaveSpeed.body(request)
        #expect(kling["image"] as? String == "data:image/jpeg;base64,AQID")
        #expect(kling["end_image"] as? String == "https://cdn.example/b.png" && kling["last_image"] == nil)
        #expect(kling["duration"] as? Int == 5 && kling["resolution"] == nil)
        request.model = "wavespeed-ai/wan-2.2/i2v-720p"
        let wan = WaveSpeed.body(request)
        #expect(wan["last_image"] as? String == "https://cdn.example/b.png" && wan["end_image"] == nil)
        #expect(wan["resolution"] as? String == "720p")
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
