import Foundation
import KeyfarmProcess
import KeyfarmProviders
import Logging
import Testing

/// The libcurl client against a real HTTP server on 127.0.0.1: methods, headers and bodies
/// on the wire, statuses, redirects, and each limit that stops a transfer.
@Suite struct HTTPClientTests {
    /// Roomy bounds: the in-process server shares Swift's cooperative pool with every other
    /// test, and on two cores a burst of blocking tests can hold it for tens of seconds.
    static let quick = HTTPClient.Limits(connectTimeout: .seconds(10), totalTimeout: .seconds(90))

    /// Sends one request with a fresh client on its own thread.
    static func send(_ request: HTTPRequest, limits: HTTPClient.Limits = quick) async -> Result<HTTPResponse, HTTPError> {
        await onThread {
            Result { () throws(HTTPError) -> HTTPResponse in
                try HTTPClient(limits: limits, logger: Logger(label: "test.http")).send(request)
            }
        }
    }

    @Test func echoesMethodHeadersAndBody() async throws {
        try await withLoopbackServer { server in
            let body = Array(#"{"prompt":"a heron takes off","duration":"5s"}"#.utf8)
            let response = try await Self.send(HTTPRequest(
                method: "POST", url: server.url("/echo?x=1"),
                headers: [("Authorization", "Bearer sk-test-123"), ("Content-Type", "application/json")],
                body: body)).get()
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            let echo = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            #expect(echo["method"] as? String == "POST")
            #expect(echo["path"] as? String == "/echo")
            #expect(echo["body"] as? String == String(decoding: body, as: UTF8.self))
            let headers = try #require(echo["headers"] as? [String: String])
            #expect(headers["authorization"] == "Bearer sk-test-123")
            #expect(headers["content-type"] == "application/json")
            #expect(headers["content-length"] == "\(body.count)")
            #expect(headers["user-agent"] == HTTPClient.userAgent)
            #expect(headers["expect"] == nil)
            #expect(headers["accept-encoding"]?.contains("gzip") == true)
        }
    }

    @Test func sendsGetAndDeleteWithoutABody() async throws {
        try await withLoopbackServer { server in
            for method in ["GET", "DELETE"] {
                let response = try await Self.send(HTTPRequest(method: method, url: server.url("/echo"))).get()
                let echo = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
                #expect(echo["method"] as? String == method)
                #expect(echo["bodyBytes"] as? Int == 0)
            }
        }
    }

    @Test func oneClientServesRequestsInTurn() async throws {
        try await withLoopbackServer { server in
            let url = server.url("/echo")
            // One handle, reset between transfers: a POST's body must not leak into the GET after it.
            let methods = try await onThread { () -> Result<[String], HTTPError> in
                Result { () throws(HTTPError) -> [String] in
                    let client = try HTTPClient(limits: Self.quick, logger: Logger(label: "test.http"))
                    return try [
                        client.send(HTTPRequest(method: "POST", url: url, body: Array("abc".utf8))),
                        client.send(HTTPRequest(method: "GET", url: url)),
                        client.send(HTTPRequest(method: "DELETE", url: url)),
                    ].map { response in
                        let echo = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
                        return "\(echo?["method"] as? String ?? "?") \(echo?["bodyBytes"] as? Int ?? -1)"
                    }
                }
            }.get()
            #expect(methods == ["POST 3", "GET 0", "DELETE 0"])
        }
    }

    @Test func rateLimitCarriesRetryAfter() async throws {
        try await withLoopbackServer { server in
            let response = try await Self.send(HTTPRequest(url: server.url("/limited"))).get()
            #expect(response.status == 429)
            #expect(response.header("retry-after") == "7")
            #expect(response.retryAfter == .seconds(7))
            let verdict = try #require(ProviderErrorClassifier.classify(response, provider: "luma"))
            #expect(verdict.errorClass == .rateLimited)
            #expect(verdict.retryAfter == .seconds(7))
            #expect(verdict.message.contains("Too many concurrent generations"))
        }
    }

    @Test func serverErrorIsAResponseNotAThrow() async throws {
        try await withLoopbackServer { server in
            let response = try await Self.send(HTTPRequest(url: server.url("/unavailable"))).get()
            #expect(response.status == 503)
            #expect(response.text == "try later")
            #expect(ProviderErrorClassifier.classify(response, provider: "fal")?.errorClass == .transient)
        }
    }

    @Test func followsTwoRedirects() async throws {
        try await withLoopbackServer { server in
            let response = try await Self.send(HTTPRequest(url: server.url("/hop/1"))).get()
            #expect(response.status == 200)
            #expect(response.text == "arrived")
            #expect(response.header("location") == nil, "headers are the final response's")
        }
    }

    @Test func redirectLoopStops() async throws {
        try await withLoopbackServer { server in
            let result = await Self.send(HTTPRequest(url: server.url("/loop")))
            #expect(throws: HTTPError.tooManyRedirects) { try result.get() }
        }
    }

    @Test func redirectToAnotherProtocolIsRefused() async throws {
        try await withLoopbackServer { server in
            let result = await Self.send(HTTPRequest(url: server.url("/elsewhere")))
            guard case .failure(.invalidURL(let message)) = result else {
                Issue.record("expected invalidURL, got \(result)")
                return
            }
            #expect(message.contains("/elsewhere"))
        }
    }

    @Test(arguments: ["/big", "/big-chunked"])
    func bodyPastTheCapStops(path: String) async throws {
        try await withLoopbackServer { server in
            var limits = Self.quick
            limits.maxResponseBytes = 1024 * 1024
            let result = await Self.send(HTTPRequest(url: server.url(path)), limits: limits)
            #expect(throws: HTTPError.responseTooLarge(limit: 1024 * 1024)) { try result.get() }
        }
    }

    @Test func stalledServerTimesOut() async throws {
        try await withLoopbackServer { server in
            var limits = Self.quick
            limits.totalTimeout = .milliseconds(300)
            // The server answers after LoopbackServer.stall (2 s): a timeout error means curl gave up first.
            let result = await Self.send(HTTPRequest(url: server.url("/stall?token=secret-in-query")), limits: limits)
            guard case .failure(.timeout(let message)) = result else {
                Issue.record("expected a timeout, got \(result)")
                return
            }
            #expect(message.contains("/stall"))
            #expect(!message.contains("secret-in-query"), "the query string stays out of messages")
        }
    }

    @Test func aSentCreateLeftUnansweredIsAnAnswerLostNotATimeout() async throws {
        try await withLoopbackServer { server in
            var limits = Self.quick
            limits.totalTimeout = .milliseconds(300)
            let result = await Self.send(HTTPRequest(method: "POST", url: server.url("/stall"), body: Array("{}".utf8)),
                                         limits: limits)
            guard case .failure(let error) = result, case .answerLost(let message) = error else {
                Issue.record("expected answerLost, got \(result)")
                return
            }
            #expect(message.contains("POST") && message.contains("/stall"))
            let verdict = ProviderErrorClassifier.classify(error, provider: "luma")
            #expect(verdict.errorClass == .transient && verdict.answerLost)
        }
        // Never sent (nothing listens): not ambiguous.
        let port = try closedLoopbackPort()
        let refused = await Self.send(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/x", body: Array("{}".utf8)))
        guard case .failure(let error) = refused, case .connectionFailed = error else {
            Issue.record("expected connectionFailed, got \(refused)")
            return
        }
        #expect(!ProviderErrorClassifier.classify(error, provider: "luma").answerLost)
    }

    @Test func closedPortIsAConnectionFailure() async throws {
        let port = try closedLoopbackPort()
        let result = await Self.send(HTTPRequest(
            url: "http://127.0.0.1:\(port)/x", headers: [("Authorization", "Bearer sk-never-printed")]))
        guard case .failure(let error) = result, case .connectionFailed = error else {
            Issue.record("expected connectionFailed, got \(result)")
            return
        }
        #expect(!"\(error)".contains("sk-never-printed"))
        #expect(ProviderErrorClassifier.classify(error, provider: "luma").errorClass == .transient)
    }

    @Test func malformedRequestsAreRefusedBeforeSending() async throws {
        let badHeader = await Self.send(HTTPRequest(
            url: "http://127.0.0.1:9/x", headers: [("Authorization", "Bearer sk-1\r\nX-Evil: 1")]))
        guard case .failure(.invalidRequest(let message)) = badHeader else {
            Issue.record("expected invalidRequest, got \(badHeader)")
            return
        }
        #expect(!message.contains("sk-1"))
        let badScheme = await Self.send(HTTPRequest(url: "file:///etc/passwd"))
        guard case .failure(.invalidURL) = badScheme else {
            Issue.record("expected invalidURL, got \(badScheme)")
            return
        }
    }
}

/// Runs a test body against a fresh loopback server and stops the server afterwards.
func withLoopbackServer(_ body: (LoopbackServer) async throws -> Void) async throws {
    let server = try await LoopbackServer.start()
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// A loopback port nothing listens on: bound, then closed again, without listening.
func closedLoopbackPort() throws -> UInt16 {
    UInt16(try LoopbackPort.unused())
}
