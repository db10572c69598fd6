import KeyfarmCore

/// A video-generation service Keyfarm holds an account with: it bills, and it needs a key.
///
/// Luma's Dream Machine API and its Agents API are two endpoints of one account and one key.
public enum Provider: String, Sendable, CaseIterable, CustomStringConvertible {
    case luma
    case fal
    case wavespeed

    /// The provider that renders an engine, or nil for local interpolation.
    public init?(engine: Engine) {
        guard let name = engine.provider, let provider = Provider(rawValue: name) else { return nil }
        self = provider
    }

    /// The environment variable that holds the key itself.
    public var keyVariable: String {
        switch self {
        case .luma: "LUMA_API_KEY"
        case .fal: "FAL_KEY"
        case .wavespeed: "WAVESPEED_API_KEY"
        }
    }

    /// The environment variable that names a file holding the key (for systemd credentials).
    public var keyFileVariable: String { keyVariable + "_FILE" }

    public var description: String { rawValue }
}
