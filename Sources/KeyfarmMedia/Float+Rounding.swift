/// Float-to-integer conversions for the per-pixel loops, without the range checks (and their
/// branches) of `Int(_:)`: adding 1.5 * 2^23 to a float of magnitude below 2^22 leaves it
/// rounded to an integer in the sum's low bits, and subtracting it again gives that integer
/// as a float. Callers keep the value in that range (they clamp coordinates to the picture).
extension Float {
    @inline(__always) static var roundingBias: Float { 12_582_912 }

    /// The nearest integer, ties to even.
    @inline(__always) var nearestInteger: Int {
        Int(Int32(bitPattern: (self + Self.roundingBias).bitPattern) &- 0x4B40_0000)
    }

    /// The left tap and the weight of the right one for linear interpolation at a position of
    /// 0 or more: the floor and the fraction, except that a whole number may give the tap
    /// before it and a weight of 1, which interpolates to the same value.
    @inline(__always) var tapAndWeight: (Int, Float) {
        let biased = (self - 0.5) + Self.roundingBias
        let tap = Int(Int32(bitPattern: biased.bitPattern) &- 0x4B40_0000)
        return (tap, self - (biased - Self.roundingBias))
    }
}
