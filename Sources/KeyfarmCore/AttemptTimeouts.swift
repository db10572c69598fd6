/// How long the coordinator lets an attempt run, and stay silent, before it stops the attempt
/// and retries the job: an attempt timeout per engine (with a default for the rest) and one
/// stall timeout for every attempt. Seconds; nil means no limit.
public struct AttemptTimeouts: Sendable, Equatable {
    /// The limit for engines without one of their own.
    public var defaultLimit: Double?
    /// Limits by key: an engine (`interpolate`, `luma/ray-2`), a whole provider (`luma` or
    /// `luma/*`), or a job kind without an engine (`smoke`, `stitch`). 0 lifts the default.
    public var limits: [String: Double]
    /// How long an attempt may go without ACCEPTED, PROGRESS or SUBMITTED.
    public var stallAfter: Double?

    /// Two hours per attempt and five minutes of silence, unless the operator says otherwise.
    public init(defaultLimit: Double? = 7200, limits: [String: Double] = [:], stallAfter: Double? = 300) {
        self.defaultLimit = defaultLimit
        self.limits = limits
        self.stallAfter = stallAfter
    }

    /// The providers a key may name as a whole (`luma`, `luma/*`).
    public static let providers = ["luma", "fal", "wavespeed"]
    /// Job kinds that run without an engine name.
    public static let kinds = ["smoke", "stitch"]

    /// The attempt timeout of a job: its engine's, else its provider's, else its kind's, else the default.
    public func limit(engine: String?, kind: String) -> Double? {
        var keys: [String] = []
        if let engine, !engine.isEmpty {
            keys.append(engine)
            if let slash = engine.firstIndex(of: "/") {
                let provider = String(engine[..<slash])
                keys += [provider + "/*", provider]
            }
        }
        keys.append(kind)
        for key in keys {
            if let limit = limits[key] { return limit > 0 ? limit : nil }
        }
        return defaultLimit
    }

    /// Applies one `--attempt-timeout` value: `ENGINE=DURATION`, or a bare `DURATION` for the default.
    public mutating func apply(_ entry: String) throws(AttemptTimeoutError) {
        let text = entry.trimmingSpaces()
        guard let equals = text.firstIndex(of: "=") else {
            defaultLimit = try Self.seconds(text, for: "the default")
            return
        }
        let key = String(text[..<equals]).trimmingSpaces()
        let value = String(text[text.index(after: equals)...]).trimmingSpaces()
        guard Self.isKnown(key) else {
            throw AttemptTimeoutError("\(key.isEmpty ? "an empty name" : "\"\(key)\"") in \"\(text)\" is not an engine: use interpolate, smoke, stitch, a provider engine such as luma/ray-2 or fal/<model>, or a whole provider (\(Self.providers.joined(separator: ", ")))")
        }
        limits[key] = try Self.seconds(value, for: key) ?? 0
    }

    /// Applies a stall timeout (`5m`; `0` turns stall detection off).
    public mutating func applyStall(_ text: String) throws(AttemptTimeoutError) {
        stallAfter = try Self.seconds(text.trimmingSpaces(), for: "the stall timeout")
    }

    /// Applies a list as the environment gives it: entries separated by commas or spaces.
    public mutating func applyList(_ list: String) throws(AttemptTimeoutError) {
        for entry in list.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) { try apply(String(entry)) }
    }

    static func isKnown(_ key: String) -> Bool {
        if Engine(name: key) != nil || kinds.contains(key) || providers.contains(key) { return true }
        return key.hasSuffix("/*") && providers.contains(String(key.dropLast(2)))
    }

    /// Seconds of a duration, nil for 0 (no limit).
    static func seconds(_ text: String, for subject: String) throws(AttemptTimeoutError) -> Double? {
        guard let seconds = DurationText.seconds(text) else {
            throw AttemptTimeoutError("\(text.isEmpty ? "an empty value" : "\"\(text)\"") for \(subject) is not a duration: write seconds (90) or a number with ms, s, m, h or d (90s, 10m, 1h30m), at most 30d; 0 means no limit")
        }
        return seconds > 0 ? seconds : nil
    }

    /// The settings in one line, for the coordinator's start-up log.
    public var summary: String {
        let each = limits.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value > 0 ? DurationText.format($0.value) : "none")" }
        return (["default=\(defaultLimit.map(DurationText.format) ?? "none")"] + each
                + ["stall=\(stallAfter.map(DurationText.format) ?? "off")"]).joined(separator: " ")
    }
}

/// A bad `--attempt-timeout` or `--stall-timeout` value, with what is wrong in it.
public struct AttemptTimeoutError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Durations as operators write them: `90` (seconds), `90s`, `500ms`, `10m`, `2h`, `1d`, `1h30m`.
public enum DurationText {
    /// The longest duration accepted unless the caller says otherwise: thirty days.
    public static let maximum: Double = 30 * 86_400

    /// The duration in seconds; nil when the text is not one (or negative, or over `maximum`).
    public static func seconds(_ text: String, upTo maximum: Double = DurationText.maximum) -> Double? {
        let scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return nil }
        var total = 0.0
        var index = 0
        while index < scalars.count {
            let numberStart = index
            while index < scalars.count, ("0"..."9").contains(scalars[index]) || scalars[index] == "." { index += 1 }
            guard index > numberStart, let number = Double(String(String.UnicodeScalarView(scalars[numberStart..<index]))) else {
                return nil
            }
            let unitStart = index
            while index < scalars.count, ("a"..."z").contains(scalars[index]) { index += 1 }
            let unit = String(String.UnicodeScalarView(scalars[unitStart..<index]))
            let scale: Double
            switch unit {
            case "": scale = 1
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86_400
            default: return nil
            }
            // A bare number stands alone: "1h30" is ambiguous.
            if unit.isEmpty && (numberStart > 0 || index < scalars.count) { return nil }
            total += number * scale
        }
        guard total.isFinite, total >= 0, total <= maximum else { return nil }
        return total
    }

    /// Seconds the way `seconds(_:)` reads them back: `90s`, `10m`, `2h`, `1h30m`, `1.5s`.
    public static func format(_ seconds: Double) -> String {
        if seconds < 60 || seconds.rounded() != seconds {
            let text = seconds.rounded() == seconds ? String(Int(seconds)) : String(seconds)
            return text + "s"
        }
        var rest = Int(seconds)
        var text = ""
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }
}

extension String {
    func trimmingSpaces() -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}
