import Foundation
import Yams

/// Reads typed values out of a YAML node tree while collecting every problem it meets, each
/// with its field path and line, so that one pass reports all errors in a shot list.
struct FieldReader {
    let file: String
    private(set) var issues: [ShotListIssue] = []

    init(file: String) { self.file = file }

    mutating func report(_ path: String, _ message: String, at node: Node?) {
        issues.append(ShotListIssue(file: file, path: path, message: message,
                                    line: node?.mark?.line, column: node?.mark?.column))
    }

    /// The key/value pairs of a mapping, reporting duplicates, unknown keys and a non-mapping node.
    mutating func mapping(_ node: Node, _ path: String, allowed: [String],
                          what: String) -> [String: (key: Node, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            report(path, "\(what) must be a mapping of keys to values, found \(describe(node))", at: node)
            return nil
        }
        var fields: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            let name = key.string ?? ""
            let fieldPath = join(path, name)
            if fields[name] != nil {
                report(fieldPath, "duplicate key (a later value would silently replace the first)", at: key)
                continue
            }
            fields[name] = (key, value)
            if !allowed.contains(name) {
                var message = "unknown key"
                if let guess = FieldReader.closest(to: name, in: allowed) { message += " (did you mean \"\(guess)\"?)" }
                message += "; allowed: " + allowed.joined(separator: ", ")
                report(fieldPath, message, at: key)
            }
        }
        return fields
    }

    mutating func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let scalar) = node, !isNull(node) else {
            report(path, "must be a string, found \(describe(node))", at: node)
            return nil
        }
        return scalar.string
    }

    mutating func integer(_ node: Node, _ path: String, range: ClosedRange<Int>, unit: String = "") -> Int? {
        guard case .scalar(let scalar) = node, !isNull(node) else {
            report(path, "must be a whole number \(FieldReader.rangeText(range, unit)), found \(describe(node))", at: node)
            return nil
        }
        guard let value = Int(scalar.string.trimmingCharacters(in: .whitespaces)) else {
            report(path, "\(scalar.string) is not a whole number; allowed: \(FieldReader.rangeText(range, unit))", at: node)
            return nil
        }
        guard range.contains(value) else {
            report(path, "\(value)\(unit.isEmpty ? "" : " " + unit) is out of range; allowed: \(FieldReader.rangeText(range, unit))", at: node)
            return nil
        }
        return value
    }

    /// `true` or `false` (YAML 1.2's spellings only: `yes` and `on` are strings here, as a typo must not switch a render mode).
    mutating func boolean(_ node: Node, _ path: String) -> Bool? {
        guard case .scalar(let scalar) = node, !isNull(node) else {
            report(path, "must be true or false, found \(describe(node))", at: node)
            return nil
        }
        switch scalar.string.trimmingCharacters(in: .whitespaces) {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default:
            report(path, "\(scalar.string) is not true or false", at: node)
            return nil
        }
    }

    /// A plain decimal number such as `12.5`, kept exact.
    mutating func decimal(_ node: Node, _ path: String, what: String) -> Rational? {
        guard case .scalar(let scalar) = node, !isNull(node) else {
            report(path, "must be \(what), found \(describe(node))", at: node)
            return nil
        }
        guard let value = Rational.parseDecimal(scalar.string.trimmingCharacters(in: .whitespaces)) else {
            report(path, "\(scalar.string) is not \(what) (write a plain decimal such as 4.5, at most 9 decimal places)", at: node)
            return nil
        }
        return value
    }

    mutating func sequence(_ node: Node, _ path: String, what: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            report(path, "\(what) must be a list, found \(describe(node))", at: node)
            return nil
        }
        return Array(sequence)
    }

    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull(node) { return "nothing (null)" }
            return "\"\(scalar.string)\""
        }
    }

    func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : path + "." + key
    }

    static func rangeText(_ range: ClosedRange<Int>, _ unit: String) -> String {
        let suffix = unit.isEmpty ? "" : " " + unit
        if range.upperBound == Int.max { return "\(range.lowerBound) or more\(suffix)" }
        return "\(range.lowerBound)..\(range.upperBound)\(suffix)"
    }

    /// The allowed word nearest to a typo, if it is close enough to be the one meant.
    static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(word.lowercased(), $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= Swift.max(2, word.count / 3) else { return nil }
        return best.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1,
                                       previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
