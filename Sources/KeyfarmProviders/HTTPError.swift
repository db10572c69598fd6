/// Why an HTTP exchange failed before it produced a usable response.
///
/// Messages name the method and the URL without its query string or user info, and never a
/// request header: headers carry provider keys.
public enum HTTPError: Error, Equatable, CustomStringConvertible {
    /// The connect or total timeout ran out.
    case timeout(String)
    /// The host could not be resolved or reached, or the connection broke mid-transfer.
    case connectionFailed(String)
    /// The TLS handshake or certificate verification failed.
    case tls(String)
    /// More redirects than `HTTPClient.Limits.maxRedirects`.
    case tooManyRedirects
    /// The body was longer than the limit in bytes, and the transfer was stopped.
    case responseTooLarge(limit: Int64)
    /// The URL is malformed or uses a scheme other than http and https.
    case invalidURL(String)
    /// The request itself is malformed (a bad method token or a line break in a header).
    case invalidRequest(String)
    /// A download answered with a status other than 2xx; nothing was written.
    case unexpectedStatus(Int, url: String)
    /// Reading or writing a local file failed.
    case io(String)
    /// Any other libcurl failure, with curl's code and message.
    case curl(code: Int, message: String)
    /// A request other than GET was sent (at least in part) and no complete answer came: it
    /// timed out or the connection broke. The server may have acted on it (a create may have
    /// made, and billed, a generation).
    case answerLost(String)

    public var description: String {
        switch self {
        case .timeout(let message): "timed out: \(message)"
        case .connectionFailed(let message): "connection failed: \(message)"
        case .tls(let message): "TLS failed: \(message)"
        case .tooManyRedirects: "too many redirects"
        case .responseTooLarge(let limit): "response larger than the limit of \(limit) bytes"
        case .invalidURL(let message): "invalid URL: \(message)"
        case .invalidRequest(let message): "invalid request: \(message)"
        case .unexpectedStatus(let status, let url): "HTTP \(status) from \(url)"
        case .io(let message): "I/O error: \(message)"
        case .curl(let code, let message): "curl error \(code): \(message)"
        case .answerLost(let message): "no answer to a request that was sent (the server may have acted on it): \(message)"
        }
    }

    /// A URL as error messages and logs may show it: without user info, query or fragment.
    public static func redacted(_ url: String) -> String {
        var result = Substring(url)
        if let cut = result.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            result = result[..<cut]
        }
        if let schemeEnd = result.range(of: "://") {
            let authorityStart = schemeEnd.upperBound
            let authorityEnd = result[authorityStart...].firstIndex(of: "/") ?? result.endIndex
            if let at = result[authorityStart..<authorityEnd].lastIndex(of: "@") {
                result = result[..<authorityStart] + result[result.index(after: at)...]
            }
        }
        return String(result)
    }
}
