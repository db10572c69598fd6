import Foundation

/// Reads provider keys from the environment: the key itself, or the path of a file holding it.
///
/// `LUMA_API_KEY`, `FAL_KEY` and `WAVESPEED_API_KEY` hold a key; `LUMA_API_KEY_FILE`,
/// `FAL_KEY_FILE` and `WAVESPEED_API_KEY_FILE` name a file with one (surrounding whitespace
/// trimmed), which keeps keys out of `ps` and unit files. The variable wins when both are
/// set. Errors name the variable and the path, never the key.
public struct ProviderSecrets: Sendable {
    /// Why a key could not be read.
    public struct Missing: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    private let environment: [String: String]

    /// Reads from `environment`, which defaults to the process environment.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The key for a provider, or an error saying which variable to set.
    public func key(for provider: Provider) throws(Missing) -> Secret {
        let variable = provider.keyVariable
        let fileVariable = provider.keyFileVariable
        if let value = environment[variable] {
            let key = value.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else {
                throw Missing(description: "\(variable) is set but empty; set it to the \(provider) API key or unset it and use \(fileVariable)")
            }
            return Secret(key)
        }
        guard let path = environment[fileVariable], !path.isEmpty else {
            throw Missing(description: "no \(provider) API key: set \(variable), or \(fileVariable) to the path of a file holding it")
        }
        let contents: Data
        do {
            contents = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw Missing(description: "\(fileVariable) names \(path), which cannot be read (\(Self.reason(error))); it should hold the \(provider) API key")
        }
        let key = String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty else {
            throw Missing(description: "\(fileVariable) names \(path), which is empty; it should hold the \(provider) API key")
        }
        return Secret(key)
    }

    /// A short reason for a failed read that cannot echo file contents.
    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let posix = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        switch nsError.code {
        case NSFileReadNoSuchFileError: return "no such file"
        case NSFileReadNoPermissionError: return "permission denied"
        default: return "error \(nsError.code)"
        }
    }
}
