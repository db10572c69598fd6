import Foundation

/// One misbehaviour the fake performs on a coming API request, as `POST /_fake/faults` lists them.
enum FakeFault: Sendable, Equatable {
    /// Answer with this status (and `Retry-After` when given) instead of handling the request.
    case status(Int, retryAfter: Int?)
    /// Answer 200 with a body that is not valid JSON.
    case malformed
    /// Wait this long, then handle the request normally.
    case hang(milliseconds: Int)
    /// Accept the next generation, then fail it with this reason (a create request takes it).
    case failGeneration(String)

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
        if let value = object["fail_generation"] {
            guard let reason = value as? String, !reason.isEmpty else {
                throw FaultPlanError("next[\(index)].fail_generation must be a non-empty string")
            }
            return .failGeneration(reason == "moderation" ? Self.moderationReason : reason)
        }
        throw FaultPlanError("next[\(index)] needs one of status, malformed, hang_ms or fail_generation")
    }

    /// Luma's wording when moderation rejects a generation.
    static let moderationReason = "400: Prompt not allowed because advanced moderation failed"
}

/// The faults to apply next, and the latency added to every API request.
struct FaultPlan: Sendable {
    var next: [FakeFault] = []
    var latencyMilliseconds = 0

    /// Reads a `POST /_fake/faults` body: `{"next": [...], "latency_ms": n}`.
    static func parse(_ body: Data) throws(FaultPlanError) -> FaultPlan {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw FaultPlanError("the body must be a JSON object")
        }
        var plan = FaultPlan()
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
        return plan
    }
}

struct FaultPlanError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
