import Foundation
import KeyfarmCore

/// One misbehaviour the fake performs on a coming API request, as `POST /_fake/faults` lists them.
enum FakeFault: Sendable, Equatable {
    /// Answer with this status (and `Retry-After` when given) instead of handling the request.
    case status(Int, retryAfter: Int?)
    /// Answer 200 with a body that is not valid JSON.
    case malformed
    /// Wait this long, then handle the request normally.
    case hang(milliseconds: Int)
    /// Create the generation (a create request takes it), then hold the answer this long: the
    /// client gives up first, not knowing it made (and will pay for) a generation.
    case loseAnswer(milliseconds: Int)
    /// Accept the next generation, then fail it with this reason (a create request takes it).
    case failGeneration(String)
    /// Accept the next generation, then end it in this terminal state (a create request takes
    /// it): WaveSpeed reports the state itself (`failed`, `cancelled`, `timeout`, `deleted`),
    /// fal a COMPLETED status carrying `error` and `error_type`, the Luma APIs `failed`.
    case endAs(ForcedEnd)

    /// Reads one entry of `next`; the error names what is wrong.
    static func parse(_ entry: Any, index: Int) throws(FaultPlanError) -> FakeFault {
        guard let object = entry as? [String: Any] else { throw FaultPlanError("next[\(index)] must be an object") }
        if let status = object["status"] {
            guard let code = status as? Int, (100...599).contains(code) else {
                throw FaultPlanError("next[\(index)].status must be an HTTP status between 100 and 599")
            }
            var retryAfter: Int?
            if let value = object["retry_after"] {
                guard let seconds = value as? Int, seconds >= 0 else {
                    throw FaultPlanError("next[\(index)].retry_after must be a whole number of seconds")
                }
                retryAfter = seconds
            }
            return .status(code, retryAfter: retryAfter)
        }
        if object["malformed"] as? Bool == true { return .malformed }
        if let value = object["hang_ms"] {
            guard let milliseconds = value as? Int, (0...600_000).contains(milliseconds) else {
                throw FaultPlanError("next[\(index)].hang_ms must be between 0 and 600000")
            }
            return .hang(milliseconds: milliseconds)
        }
        if let value = object["lose_answer_ms"] {
            guard let milliseconds = value as? Int, (0...600_000).contains(milliseconds) else {
                throw FaultPlanError("next[\(index)].lose_answer_ms must be between 0 and 600000")
            }
            return .loseAnswer(milliseconds: milliseconds)
        }
        if let value = object["fail_generation"] {
            guard let reason = value as? String, !reason.isEmpty else {
                throw FaultPlanError("next[\(index)].fail_generation must be a non-empty string")
            }
            return .failGeneration(reason == "moderation" ? Self.moderationReason : reason)
        }
        if let value = object["end_as"] {
            guard let state = value as? String, ForcedEnd.states.contains(state) else {
                throw FaultPlanError("next[\(index)].end_as must be one of \(ForcedEnd.states.joined(separator: ", "))")
            }
            var errorType: String?
            if let type = object["error_type"] {
                guard let text = type as? String, !text.isEmpty else {
                    throw FaultPlanError("next[\(index)].error_type must be a non-empty string (fal's error type)")
                }
                errorType = text
            }
            return .endAs(ForcedEnd(reason: "the generation ended as \(state) (injected by the fake provider)", state: state,
                                    errorType: errorType))
        }
        throw FaultPlanError("next[\(index)] needs one of status, malformed, hang_ms, lose_answer_ms, fail_generation or end_as")
    }

    /// Luma's wording when moderation rejects a generation.
    static let moderationReason = "400: Prompt not allowed because advanced moderation failed"
}

/// How a generation a fault chose ends instead of completing.
struct ForcedEnd: Sendable, Equatable {
    /// The terminal states a fault can end a generation in: WaveSpeed's, whose SDK stops on
    /// each (`completed` aside).
    static let states = ["failed", "cancelled", "timeout", "deleted"]

    var reason: String
    var state = "failed"
    /// fal's `error_type` on the COMPLETED status; nil picks one by the reason.
    var errorType: String?

    /// The error type fal reports: as given, none for moderation (the input's fault, which fal
    /// reports as a model error), `request_timeout` for a timeout, else `runner_server_error`.
    var falErrorType: String? {
        if let errorType { return errorType }
        if reason == FakeFault.moderationReason { return nil }
        return state == "timeout" ? "request_timeout" : "runner_server_error"
    }
}

/// Faults drawn at random for every API request the queued `next` faults leave alone: a
/// share answered with a 5xx (500, 502 or 503), a share with 429 and `Retry-After: 1`, and a
/// share of create requests accepted and then failed. Seeded, so a run can be repeated.
struct FaultRates: Sendable, Equatable {
    var serverError = 0.0
    var tooManyRequests = 0.0
    var failedGeneration = 0.0
    var seed: UInt64 = 1

    var isEmpty: Bool { serverError == 0 && tooManyRequests == 0 && failedGeneration == 0 }

    /// Reads `{"5xx": p, "429": p, "fail_generation": p, "seed": n}`; each p in 0...1, the
    /// status shares together at most 1.
    static func parse(_ value: Any) throws(FaultPlanError) -> FaultRates {
        guard let object = value as? [String: Any] else { throw FaultPlanError("rates must be an object") }
        var rates = FaultRates()
        for key in object.keys where !["5xx", "429", "fail_generation", "seed"].contains(key) {
            throw FaultPlanError("rates.\(key) is not a rate (known: 5xx, 429, fail_generation, seed)")
        }
        func share(_ key: String) throws(FaultPlanError) -> Double {
            guard let raw = object[key] else { return 0 }
            guard let number = raw as? NSNumber, (0...1).contains(number.doubleValue) else {
                throw FaultPlanError("rates.\(key) must be a number between 0 and 1")
            }
            return number.doubleValue
        }
        rates.serverError = try share("5xx")
        rates.tooManyRequests = try share("429")
        rates.failedGeneration = try share("fail_generation")
        guard rates.serverError + rates.tooManyRequests <= 1 else {
            throw FaultPlanError("rates.5xx and rates.429 together must be at most 1")
        }
        if let raw = object["seed"] {
            guard let seed = raw as? Int, seed >= 0 else { throw FaultPlanError("rates.seed must be a whole number, 0 or more") }
            rates.seed = UInt64(seed)
        }
        return rates
    }
}

/// The faults to apply next, the random ones, and the latency added to every API request.
struct FaultPlan: Sendable {
    var next: [FakeFault] = []
    var rates = FaultRates()
    var latencyMilliseconds = 0
    /// How long a presigned output URL (Luma Agents') stays valid; the API's is an hour.
    var outputURLLifetimeSeconds = 3600
    /// How many answers naming a completed generation's outputs hand out URLs that have
    /// already expired (a client that keeps a URL too long), before fresh ones again.
    var expiredOutputURLs = 0

    /// Reads a `POST /_fake/faults` body:
    /// `{"next": [...], "rates": {...}, "latency_ms": n, "output_url_lifetime_s": n}`.
    static func parse(_ body: Data) throws(FaultPlanError) -> FaultPlan {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw FaultPlanError("the body must be a JSON object")
        }
        var plan = FaultPlan()
        if let rates = object["rates"] { plan.rates = try FaultRates.parse(rates) }
        if let next = object["next"] {
            guard let entries = next as? [Any] else { throw FaultPlanError("next must be an array") }
            for (index, entry) in entries.enumerated() { plan.next.append(try FakeFault.parse(entry, index: index)) }
        }
        if let latency = object["latency_ms"] {
            guard let milliseconds = latency as? Int, (0...600_000).contains(milliseconds) else {
                throw FaultPlanError("latency_ms must be between 0 and 600000")
            }
            plan.latencyMilliseconds = milliseconds
        }
        if let count = object["expired_output_urls"] {
            guard let value = count as? Int, (0...1000).contains(value) else {
                throw FaultPlanError("expired_output_urls must be between 0 and 1000")
            }
            plan.expiredOutputURLs = value
        }
        if let lifetime = object["output_url_lifetime_s"] {
            guard let seconds = lifetime as? Int, (0...86_400).contains(seconds) else {
                throw FaultPlanError("output_url_lifetime_s must be between 0 and 86400")
            }
            plan.outputURLLifetimeSeconds = seconds
        }
        return plan
    }
}

struct FaultPlanError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
