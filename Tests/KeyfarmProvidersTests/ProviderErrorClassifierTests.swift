import KeyfarmCore
import KeyfarmProviders
import Testing

/// The table that turns provider failures into retry decisions.
@Suite struct ProviderErrorClassifierTests {
    @Test(arguments: [400, 401, 402, 403, 413, 422])
    func refusalsAreTerminalAndQuoteTheProvider(status: Int) throws {
        let body = Array(#"{"detail":"keyframes.frame1 must be an image"}"#.utf8)
        let verdict = try #require(ProviderErrorClassifier.classify(status: status, body: body, provider: "luma"))
        #expect(verdict.errorClass == .invalid)
        #expect(verdict.message.contains("HTTP \(status)"))
        #expect(verdict.message.contains("keyframes.frame1 must be an image"))
    }

    @Test(arguments: [
        (#"{"error":"Insufficient credits"}"#, "Insufficient credits"),
        (#"{"message":"prompt is required"}"#, "prompt is required"),
        (#"{"detail":[{"loc":["body","image_url"],"msg":"field required"}]}"#, "body.image_url: field required"),
        (#"{"error":{"message":"bad model"}}"#, "bad model"),
        ("plain text reason", "plain text reason"),
    ])
    func explanationIsFoundWhereProvidersPutIt(body: String, expected: String) throws {
        let verdict = try #require(ProviderErrorClassifier.classify(status: 422, body: Array(body.utf8), provider: "fal"))
        #expect(verdict.message.hasSuffix(": " + expected))
    }

    @Test func htmlErrorPagesAreNotQuoted() throws {
        let verdict = try #require(ProviderErrorClassifier.classify(status: 403, body: Array("<html>nope</html>".utf8), provider: "fal"))
        #expect(!verdict.message.contains("<html>"))
    }

    @Test func rateLimitKeepsTheWait() throws {
        let verdict = try #require(ProviderErrorClassifier.classify(status: 429, body: [], retryAfter: .seconds(30), provider: "wavespeed"))
        #expect(verdict.errorClass == .rateLimited)
        #expect(verdict.retryAfter == .seconds(30))
    }

    @Test(arguments: [500, 502, 503, 504, 408])
    func serverTroubleIsTransient(status: Int) throws {
        #expect(ProviderErrorClassifier.classify(status: status, body: [], provider: "luma")?.errorClass == .transient)
    }

    @Test func successIsNoFailure() {
        #expect(ProviderErrorClassifier.classify(status: 200, body: [], provider: "luma") == nil)
        #expect(ProviderErrorClassifier.classify(status: 201, body: [], provider: "luma") == nil)
    }

    @Test(arguments: [
        (HTTPError.timeout("GET x: slow"), ErrorClass.transient),
        (.connectionFailed("GET x: refused"), .transient),
        (.curl(code: 56, message: "recv"), .transient),
        (.tls("GET x: bad certificate"), .invalid),
        (.invalidURL("x"), .invalid),
        (.tooManyRedirects, .invalid),
        (.unexpectedStatus(503, url: "x"), .transient),
        (.unexpectedStatus(404, url: "x"), .invalid),
    ])
    func transportErrors(error: HTTPError, expected: ErrorClass) {
        #expect(ProviderErrorClassifier.classify(error, provider: "luma").errorClass == expected)
    }
}
