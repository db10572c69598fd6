import KeyfarmProviders
import Testing

/// Provider base URLs: the published defaults, and overrides that may point only at https or loopback.
@Suite struct ProviderEndpointsTests {
    @Test func defaultsArePublishedEndpoints() throws {
        let endpoints = try ProviderEndpoints(environment: [:])
        #expect(endpoints == .defaults)
        #expect(endpoints.lumaDreamMachine == "https://api.lumalabs.ai/dream-machine/v1")
        #expect(endpoints.lumaAgents == "https://agents.lumalabs.ai/v1")
        #expect(endpoints.fal == "https://queue.fal.run")
        #expect(endpoints.wavespeed == "https://api.wavespeed.ai/api/v3")
    }

    @Test func overridesPointAtLoopback() throws {
        let endpoints = try ProviderEndpoints(environment: [
            "KEYFARM_LUMA_API_URL": "http://127.0.0.1:8080/dream-machine/v1/",
            "KEYFARM_LUMA_AGENTS_API_URL": "http://localhost:8080/v1",
            "KEYFARM_FAL_API_URL": "https://fal.example.test",
            "KEYFARM_WAVESPEED_API_URL": "http://[::1]:9000/api/v3",
        ])
        #expect(endpoints.lumaDreamMachine == "http://127.0.0.1:8080/dream-machine/v1")
        #expect(endpoints.lumaAgents == "http://localhost:8080/v1")
        #expect(endpoints.fal == "https://fal.example.test")
        #expect(endpoints.wavespeed == "http://[::1]:9000/api/v3")
    }

    @Test(arguments: [
        ("http://api.lumalabs.ai/dream-machine/v1", "plain http"),
        ("ftp://127.0.0.1/x", "scheme ftp"),
        ("api.lumalabs.ai/v1", "not an absolute URL"),
        ("https://user:pw@api.lumalabs.ai/v1", "user info"),
        ("https://api.lumalabs.ai/v1?key=1", "query"),
    ])
    func badOverridesAreRefused(value: String, reason: String) throws {
        let error = try #require(throws: ProviderEndpoints.Invalid.self) {
            try ProviderEndpoints(environment: ["KEYFARM_LUMA_API_URL": value])
        }
        #expect(error.description.contains("KEYFARM_LUMA_API_URL"))
        #expect(error.description.contains(reason))
    }
}
