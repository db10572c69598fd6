/// An exact non-negative-friendly fraction, so that frame mapping never suffers from binary
/// floating point (12.5 s at 24000/1001 fps must land on the same frame on every machine).
public struct Rational: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let numerator: Int64
    public let denominator: Int64

    public init(_ numerator: Int64, _ denominator: Int64 = 1) {
        precondition(denominator != 0, "a rational needs a non-zero denominator")
        let sign: Int64 = denominator < 0 ? -1 : 1
        let divisor = Rational.gcd(Swift.abs(numerator), Swift.abs(denominator))
        self.numerator = sign * numerator / Swift.max(divisor, 1)
        self.denominator = sign * denominator / Swift.max(divisor, 1)
    }

    /// Parses a plain decimal such as `12.5`, `4`, `-0.25` or `.5` with at most nine decimal places.
    public static func parseDecimal(_ text: String) -> Rational? {
        var body = Substring(text)
        var negative = false
        if body.first == "-" || body.first == "+" {
            negative = body.first == "-"
            body = body.dropFirst()
        }
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count >= 1, parts.count <= 2 else { return nil }
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !(whole.isEmpty && fraction.isEmpty), fraction.count <= 9, whole.count <= 12,
              whole.allSatisfy(\.isASCIIDigit), fraction.allSatisfy(\.isASCIIDigit) else { return nil }
        if parts.count == 2 && fraction.isEmpty && whole.isEmpty { return nil }
        var denominator: Int64 = 1
        for _ in fraction { denominator *= 10 }
        guard let value = Int64(whole.isEmpty ? "0" : String(whole)),
              let frac = Int64(fraction.isEmpty ? "0" : String(fraction)) else { return nil }
        // Twelve whole digits and nine decimals can exceed Int64 (999999999999.999999999): no number then.
        let (scaled, overflow) = value.multipliedReportingOverflow(by: denominator)
        let (numerator, carry) = scaled.addingReportingOverflow(frac)
        guard !overflow, !carry else { return nil }
        return Rational(negative ? -numerator : numerator, denominator)
    }

    /// Rounds to the nearest integer, halves away from zero (the rule for frame numbers).
    public func rounded() -> Int64 {
        let denominator = UInt64(self.denominator)
        let whole = numerator.magnitude / denominator, remainder = numerator.magnitude % denominator
        let magnitude = Int64(whole) + (remainder >= denominator - remainder ? 1 : 0)
        return numerator < 0 ? -magnitude : magnitude
    }

    /// The largest integer not above this value.
    public func floor() -> Int64 {
        let quotient = numerator / denominator
        return (numerator % denominator != 0 && numerator < 0) ? quotient - 1 : quotient
    }

    public var doubleValue: Double { Double(numerator) / Double(denominator) }
    public var isInteger: Bool { denominator == 1 }

    /// A decimal rendering where one exists within nine places (`12.5`), else `n/d`.
    public var description: String {
        if denominator == 1 { return String(numerator) }
        let denominator = UInt64(self.denominator)
        // The whole part and the remainder apart, so that no product can overflow.
        let whole = numerator.magnitude / denominator, remainder = numerator.magnitude % denominator
        var scale: UInt64 = 1
        for places in 1...9 {
            scale *= 10
            if scale % denominator == 0 {
                var digits = String(remainder * (scale / denominator))
                digits = String(repeating: "0", count: places - digits.count) + digits
                while digits.hasSuffix("0") { digits.removeLast() }
                return (numerator < 0 ? "-" : "") + "\(whole).\(digits)"
            }
        }
        return "\(numerator)/\(denominator)"
    }

    /// Compares the cross products at full width: a keyframe at 999999999999.5 s is compared
    /// with one at 0.000000001 s without overflow.
    public static func < (lhs: Rational, rhs: Rational) -> Bool {
        let left = lhs.numerator.multipliedFullWidth(by: rhs.denominator)
        let right = rhs.numerator.multipliedFullWidth(by: lhs.denominator)
        return left.high < right.high || (left.high == right.high && left.low < right.low)
    }
    public static func * (lhs: Rational, rhs: Rational) -> Rational {
        let a = gcd(Swift.abs(lhs.numerator), rhs.denominator)
        let b = gcd(Swift.abs(rhs.numerator), lhs.denominator)
        return Rational((lhs.numerator / Swift.max(a, 1)) * (rhs.numerator / Swift.max(b, 1)),
                        (lhs.denominator / Swift.max(b, 1)) * (rhs.denominator / Swift.max(a, 1)))
    }
    public static func + (lhs: Rational, rhs: Rational) -> Rational {
        Rational(lhs.numerator * rhs.denominator + rhs.numerator * lhs.denominator,
                 lhs.denominator * rhs.denominator)
    }
    public static func - (lhs: Rational, rhs: Rational) -> Rational {
        lhs + Rational(-rhs.numerator, rhs.denominator)
    }
    public static func / (lhs: Rational, rhs: Rational) -> Rational {
        lhs * Rational(rhs.denominator, rhs.numerator)
    }

    static func gcd(_ a: Int64, _ b: Int64) -> Int64 {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
