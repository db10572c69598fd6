/// One HTTP request as a provider adapter builds it: method, URL, headers and an optional body.
///
/// Headers are an ordered list, not a dictionary, because a request may repeat a header and
/// because the order is what goes on the wire. They often carry a provider key, so nothing in
/// this module ever prints them.
public struct HTTPRequest: Sendable {
    /// `GET`, `POST` or `DELETE` (any upper-case token is sent as given).
    public var method: String
    /// An absolute `http://` or `https://` URL.
    public var url: String
    /// Header names and values, in order; values must not contain line breaks.
    public var headers: [(String, String)]
    /// The request body, sent with an explicit length; nil sends none.
    public var body: [UInt8]?

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}
