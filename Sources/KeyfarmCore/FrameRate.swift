/// A shot's frame rate: one of the rates SHOTLIST.md allows, kept exact (24000/1001, not 23.976).
public struct FrameRate: Sendable, Hashable, CustomStringConvertible {
    public let rational: Rational

    /// Every rate a shot list may ask for, in the order error messages list them.
    public static let allowed: [FrameRate] = [
        FrameRate(24), FrameRate(25), FrameRate(30), FrameRate(48), FrameRate(50), FrameRate(60),
        FrameRate(24000, 1001), FrameRate(30000, 1001),
    ]

    init(_ numerator: Int64, _ denominator: Int64 = 1) {
        rational = Rational(numerator, denominator)
    }

    /// Reads `24`, `"24"` or `"24000/1001"`; nil for anything that is not an allowed rate.
    public init?(text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let candidate: Rational
        if parts.count == 2, let n = Int64(parts[0]), let d = Int64(parts[1]), n > 0, d > 0 {
            candidate = Rational(n, d)
        } else if parts.count == 1, let n = Int64(parts[0]), n > 0 {
            candidate = Rational(n)
        } else {
            return nil
        }
        guard let match = FrameRate.allowed.first(where: { $0.rational == candidate }) else { return nil }
        self = match
    }

    /// The frame on which time `seconds` falls, before clamping to the shot's last frame.
    public func frame(at seconds: Rational) -> Int {
        Int((seconds * rational).rounded())
    }

    /// `24` or `24000/1001`, as a shot list writes it.
    public var description: String {
        rational.isInteger ? String(rational.numerator) : "\(rational.numerator)/\(rational.denominator)"
    }

    public var framesPerSecond: Double { rational.doubleValue }
}
