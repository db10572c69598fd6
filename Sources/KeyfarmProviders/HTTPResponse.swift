import Foundation

/// The final response to an `HTTPRequest` after redirects: status, headers and the whole body.
public struct HTTPResponse: Sendable {
    /// The HTTP status code of the last response in the redirect chain.
    public var status: Int
    /// Header names (lower-cased) and values of the last response, in the order received.
    public var headers: [(String, String)]
    /// The body, at most `HTTPClient.Limits.maxResponseBytes` long.
    public var body: [UInt8]
    /// How long the server asked us to wait before trying again (`Retry-After`), if it said.
    public var retryAfter: Duration?

    public init(status: Int, headers: [(String, String)], body: [UInt8], retryAfter: Duration? = nil) {
        self.status = status
        self.headers = headers.map { ($0.0.lowercased(), $0.1) }
        self.body = body
        self.retryAfter = retryAfter
    }

    /// The value of the first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0 == wanted }?.1
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The body decoded as UTF-8 (invalid sequences replaced), for messages and tests.
    public var text: String { String(decoding: body, as: UTF8.self) }
}
