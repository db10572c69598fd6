import Foundation
import KeyfarmCore
@testable import KeyfarmProviders
import Testing

/// fal's failures as fal-client 1.0.3 reads them: the error type from the body before the
/// header, which failed requests are worth a new one, and which refused creates are repeated.
@Suite struct FalErrorTests {
    static func response(_ status: Int, body: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(body.utf8))
    }

    @Test func theBodysErrorTypeComesBeforeTheHeader() throws {
        let both = Self.response(500, body: #"{"detail": "runner lost", "error_type": "runner_disconnected"}"#,
                                 headers: [("X-Fal-Error-Type", "internal_error")])
        let verdict = try #require(ProviderErrorClassifier.classify(both, provider: "fal"))
        #expect(verdict.providerErrorType == "runner_disconnected")
        #expect(verdict.message.contains("runner lost"))
        let headerOnly = Self.response(504, body: #"{"detail": "Request timed out"}"#,
                                       headers: [("x-fal-error-type", "request_timeout")])
        #expect(ProviderErrorClassifier.classify(headerOnly, provider: "fal")?.providerErrorType == "request_timeout")
        let neither = Self.response(502, body: "<html>nginx</html>")
        #expect(ProviderErrorClassifier.classify(neither, provider: "fal")?.providerErrorType == nil)
    }

    @Test func aFailedRequestIsTerminalOnlyWhenTheInputIsAtFault() {
        // fal's infrastructure categories: a new request may well succeed.
        for type in FalQueue.infrastructureErrorTypes {
            #expect(!FalQueue.isTerminal(errorType: type, reason: "Internal error"), "\(type)")
        }
        #expect(!FalQueue.isTerminal(errorType: "some_new_category", reason: "Internal error"))
        // No error type: a model error, the input's fault; moderation whatever the type.
        #expect(FalQueue.isTerminal(errorType: nil, reason: "image could not be decoded"))
        #expect(FalQueue.isTerminal(errorType: "runner_server_error", reason: "flagged by the safety checker"))
    }

    /// 408 and 409 on a create are repeated up to ten tries in all, waiting 0.1 s doubling to
    /// 30 s times the jitter; other refusals are not.
    @Test func refusedCreatesAreRepeatedOnTheSDKsSchedule() {
        #expect(FalQueue.createRetryDelay(status: 409, attempt: 1, random: 1) == .milliseconds(100))
        #expect(FalQueue.createRetryDelay(status: 409, attempt: 4, random: 1) == .milliseconds(800))
        #expect(FalQueue.createRetryDelay(status: 408, attempt: 2, random: 0.5) == .milliseconds(100))
        #expect(FalQueue.createRetryDelay(status: 409, attempt: 9, random: 1.5) == .seconds(30), "capped at 30 s")
        #expect(FalQueue.createRetryDelay(status: 409, attempt: 10, random: 1) == nil, "ten tries in all")
        for status in [400, 422, 429, 500, 503] as [Int?] + [nil] {
            #expect(FalQueue.createRetryDelay(status: status, attempt: 1, random: 1) == nil, "\(status.map(String.init) ?? "no status")")
        }
    }
}
