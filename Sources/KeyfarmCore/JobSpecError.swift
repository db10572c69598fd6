/// A spec that cannot be read: the field, and what is wrong with it (`spec: frames is missing`).
public struct JobSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field's path, as `segment_jobs[2].key` or `inputs.sh010/s0[0].path`; empty for the spec as a whole.
    public var field: String
    /// What is wrong, as a predicate: `is missing`, `must be a whole number`.
    public var problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { field.isEmpty ? "spec \(problem)" : "spec: \(field) \(problem)" }

    /// Runs a decode, turning its `DecodingError` into one that names the field.
    static func reading<T>(_ decode: () throws -> T) throws(JobSpecError) -> T {
        do {
            return try decode()
        } catch let error as DecodingError {
            throw JobSpecError(error)
        } catch {
            throw JobSpecError(field: "", problem: "cannot be read: \(error)")
        }
    }

    init(_ error: DecodingError) {
        switch error {
        case .keyNotFound(let key, let context):
            self.init(field: Self.path(context.codingPath + [key]), problem: "is missing")
        case .valueNotFound(_, let context):
            self.init(field: Self.path(context.codingPath), problem: "is null")
        case .typeMismatch(let type, let context):
            self.init(field: Self.path(context.codingPath), problem: "must be \(Self.describe(type))")
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            self.init(field: "", problem: "is not valid JSON")
        case .dataCorrupted(let context):
            self.init(field: Self.path(context.codingPath), problem: context.debugDescription)
        @unknown default:
            self.init(field: "", problem: "cannot be read: \(error)")
        }
    }

    /// `segment_jobs[2].key`: names joined by dots, array positions in brackets.
    static func path(_ keys: [any CodingKey]) -> String {
        keys.reduce(into: "") { path, key in
            if let index = key.intValue, key.stringValue.hasPrefix("Index ") {
                path += "[\(index)]"
            } else {
                path += (path.isEmpty ? "" : ".") + key.stringValue
            }
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type: "a whole number"
        case is Double.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is [Any].Type: "a list"
        case is [String: Any].Type: "an object"
        default: "a \(type)"
        }
    }
}
