import KeyfarmCore

/// Picks the adapter for an engine, with its base URL and key.
public enum VideoAPIs {
    /// The provider's model id for an engine: `ray-2`, `ray-3.2`, or the id after `fal/` / `wavespeed/`.
    public static func model(for engine: Engine) -> String? {
        switch engine {
        case .interpolate: nil
        case .lumaRay2: "ray-2"
        case .lumaRayFlash2: "ray-flash-2"
        case .lumaRay32: "ray-3.2"
        case .fal(let model), .wavespeed(let model): model
        }
    }

    /// The adapter for `engine`; an `invalid` verdict when the engine is local or the worker
    /// has no key for its provider (a retry elsewhere may find a worker that has one).
    public static func make(for engine: Engine, endpoints: ProviderEndpoints, secrets: ProviderSecrets,
                            client: HTTPClient) throws(ProviderErrorClassifier.Verdict) -> any VideoAPI {
        guard let provider = Provider(engine: engine) else {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "\(engine) is not a provider engine")
        }
        let key: Secret
        do {
            key = try secrets.key(for: provider)
        } catch {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "cannot render \(engine) on this worker: \(error)")
        }
        switch engine {
        case .lumaRay2, .lumaRayFlash2:
            return LumaDreamMachine(base: endpoints.lumaDreamMachine, key: key, client: client)
        case .lumaRay32:
            return LumaAgents(base: endpoints.lumaAgents, key: key, client: client)
        case .fal(let model):
            return FalQueue(base: endpoints.fal, model: model, key: key, client: client)
        case .wavespeed(let model):
            return WaveSpeed(base: endpoints.wavespeed, model: model, key: key, client: client)
        case .interpolate:
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "interpolate is not a provider engine")
        }
    }
}
