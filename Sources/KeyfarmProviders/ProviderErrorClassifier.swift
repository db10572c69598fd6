import Foundation
import KeyfarmCore

/// Decides how a failed provider exchange is retried: the HTTP status or transport error, as a
/// `KeyfarmCore.ErrorClass` and a message fit for the job's error column.
///
/// Pure. 400/401/402/403/413/422 are terminal (`invalid`) and carry the provider's own
/// explanation (`detail`, `error` or `message` in a JSON body); 429 waits for Retry-After;
/// 408 and 5xx are transient. Other statuses are judged terminal, since repeating a request a
/// provider did not understand costs time and may cost credits.
public enum ProviderErrorClassifier {
    /// A judged failure.
    public struct Verdict: Sendable, Equatable {
        public var errorClass: ErrorClass
        public var message: String
        /// The wait a 429 asked for, if it said.
        public var retryAfter: Duration?
        /// The HTTP status judged, when there was a response.
        public var status: Int?
        /// The provider's machine-readable category of a request that failed for good, when it
        /// gave one (fal's `error_type` in the body, else its `X-Fal-Error-Type` header): it
        /// tells a failed request from a gateway hiccup with the same status.
        public var providerErrorType: String?
        /// A create (or any request that changes something) was sent and no answer came: the
        /// provider may have acted on it. A create like this is reconciled before it is made again.
        public var answerLost = false

        public init(errorClass: ErrorClass, message: String, retryAfter: Duration? = nil, status: Int? = nil,
                    providerErrorType: String? = nil) {
            self.errorClass = errorClass
            self.message = message
            self.retryAfter = retryAfter
            self.status = status
            self.providerErrorType = providerErrorType
        }
    }

    /// The longest stretch of a body quoted in a message.
    static let quoteLimit = 300

    /// Judges a response whose status is not 2xx; nil when it is 2xx (not a failure).
    public static func classify(status: Int, body: [UInt8], retryAfter: Duration? = nil,
                                provider: String) -> Verdict? {
        guard !(200..<300).contains(status) else { return nil }
        let explanation = detail(body).map { ": \($0)" } ?? ""
        switch status {
        case 400, 401, 402, 403, 413, 422:
            return Verdict(errorClass: .invalid,
                           message: "\(provider) refused the request (HTTP \(status) \(reason(status)))\(explanation)",
                           status: status)
        case 429:
            let wait = retryAfter.map { ", retry after \($0.components.seconds) s" } ?? ""
            return Verdict(errorClass: .rateLimited,
                           message: "\(provider) is rate limiting (HTTP 429)\(wait)\(explanation)",
                           retryAfter: retryAfter, status: status)
        case 408, 500...599:
            return Verdict(errorClass: .transient, message: "\(provider) failed (HTTP \(status))\(explanation)",
                           status: status)
        default:
            return Verdict(errorClass: .invalid,
                           message: "\(provider) answered with an unexpected HTTP \(status)\(explanation)",
                           status: status)
        }
    }

    /// Judges a response; nil when it is 2xx.
    public static func classify(_ response: HTTPResponse, provider: String) -> Verdict? {
        var verdict = classify(status: response.status, body: response.body, retryAfter: response.retryAfter, provider: provider)
        verdict?.providerErrorType = errorType(response)
        return verdict
    }

    /// fal's category of a failed request, as fal-client reads it: `error_type` in a JSON
    /// object body first, else the `X-Fal-Error-Type` header.
    public static func errorType(_ response: HTTPResponse) -> String? {
        if let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any],
           let type = object["error_type"] as? String, !type.isEmpty {
            return type
        }
        return response.header("X-Fal-Error-Type").flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Judges an exchange that produced no response.
    public static func classify(_ error: HTTPError, provider: String) -> Verdict {
        let message = "\(provider): \(error)"
        switch error {
        case .timeout, .connectionFailed, .curl, .io:
            return Verdict(errorClass: .transient, message: message)
        case .answerLost:
            var verdict = Verdict(errorClass: .transient, message: message)
            verdict.answerLost = true
            return verdict
        case .tls, .invalidURL, .invalidRequest, .tooManyRedirects, .responseTooLarge:
            // A redirect loop or an oversized answer would come back the same on a retry.
            return Verdict(errorClass: .invalid, message: message)
        case .unexpectedStatus(let status, _):
            return classify(status: status, body: [], provider: provider)
                ?? Verdict(errorClass: .invalid, message: message)
        }
    }

    /// The provider's explanation in a JSON error body, or the start of a short text body.
    static func detail(_ body: [UInt8]) -> String? {
        guard !body.isEmpty else { return nil }
        if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] {
            for key in ["detail", "error", "message"] {
                if let text = describe(object[key]) { return clipped(text) }
            }
            return nil
        }
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, !text.hasPrefix("<") else { return nil }  // no HTML error pages
        return clipped(text)
    }

    /// A JSON value as text: strings as they are, `{"message": ...}` and lists of those unwrapped.
    static func describe(_ value: Any?) -> String? {
        switch value {
        case let text as String:
            return text.isEmpty ? nil : text
        case let object as [String: Any]:
            return describe(object["message"]) ?? describe(object["msg"]) ?? describe(object["detail"])
        case let list as [Any]:
            let parts = list.compactMap { item -> String? in
                guard let object = item as? [String: Any] else { return describe(item) }
                let location = (object["loc"] as? [Any]).map { $0.map { "\($0)" }.joined(separator: ".") }
                guard let message = describe(object["msg"]) ?? describe(object["message"]) else { return nil }
                return location.map { "\($0): \(message)" } ?? message
            }
            return parts.isEmpty ? nil : parts.joined(separator: "; ")
        default:
            return nil
        }
    }

    private static func clipped(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.count <= quoteLimit ? flat : String(flat.prefix(quoteLimit)) + "..."
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 400: "bad request"
        case 401: "unauthorized: check the API key"
        case 402: "payment required: the account is out of credits"
        case 403: "forbidden"
        case 413: "payload too large"
        case 422: "unprocessable"
        default: ""
        }
    }
}
