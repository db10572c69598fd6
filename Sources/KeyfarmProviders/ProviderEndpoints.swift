import Foundation

/// The base URLs of the provider APIs, each overridable from the environment.
///
/// The overrides exist so tests and the demo can point a worker at the fake provider on
/// loopback; for that reason plain `http` is accepted only for `127.0.0.1`, `[::1]` and
/// `localhost`, and every real endpoint must be `https`. Base URLs carry no trailing slash.
public struct ProviderEndpoints: Sendable, Equatable {
    /// Why an override was refused.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Luma Dream Machine (ray-2, ray-flash-2): `POST {base}/generations/video`.
    public var lumaDreamMachine: String
    /// Luma Agents (ray-3.2): `POST {base}/generations`.
    public var lumaAgents: String
    /// fal.ai's queue: `POST {base}/{model}`.
    public var fal: String
    /// WaveSpeed: `POST {base}/{model}`.
    public var wavespeed: String

    public static let defaults = ProviderEndpoints(
        lumaDreamMachine: "https://api.lumalabs.ai/dream-machine/v1",
        lumaAgents: "https://agents.lumalabs.ai/v1",
        fal: "https://queue.fal.run",
        wavespeed: "https://api.wavespeed.ai/api/v3")

    /// The environment variables that override each base URL.
    public static let variables = (
        lumaDreamMachine: "KEYFARM_LUMA_API_URL",
        lumaAgents: "KEYFARM_LUMA_AGENTS_API_URL",
        fal: "KEYFARM_FAL_API_URL",
        wavespeed: "KEYFARM_WAVESPEED_API_URL")

    public init(lumaDreamMachine: String, lumaAgents: String, fal: String, wavespeed: String) {
        self.lumaDreamMachine = lumaDreamMachine
        self.lumaAgents = lumaAgents
        self.fal = fal
        self.wavespeed = wavespeed
    }

    /// The defaults with any overrides from `environment` applied; a bad override is an error.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(Invalid) {
        let defaults = Self.defaults
        let names = Self.variables
        func value(_ variable: String, _ fallback: String) throws(Invalid) -> String {
            guard let text = environment[variable], !text.isEmpty else { return fallback }
            return try Self.validated(text, variable: variable)
        }
        self.init(lumaDreamMachine: try value(names.lumaDreamMachine, defaults.lumaDreamMachine),
                  lumaAgents: try value(names.lumaAgents, defaults.lumaAgents),
                  fal: try value(names.fal, defaults.fal),
                  wavespeed: try value(names.wavespeed, defaults.wavespeed))
    }

    /// Checks one base URL and drops its trailing slashes.
    public static func validated(_ text: String, variable: String) throws(Invalid) -> String {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty
        else {
            throw Invalid(description: "\(variable) is not an absolute URL: \(text.debugDescription)")
        }
        guard components.user == nil, components.password == nil,
              components.query == nil, components.fragment == nil
        else {
            throw Invalid(description: "\(variable) must be a base URL without user info, query or fragment")
        }
        let loopback = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased())
        switch scheme {
        case "https": break
        case "http" where loopback: break
        case "http":
            throw Invalid(description: "\(variable) uses plain http for \(host); only https is allowed, or http on 127.0.0.1 or localhost")
        default:
            throw Invalid(description: "\(variable) must be an http(s) URL, found scheme \(scheme)")
        }
        var result = text
        while result.hasSuffix("/") { result.removeLast() }
        return result
    }
}
