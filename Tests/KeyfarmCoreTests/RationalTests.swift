import Testing
@testable import KeyfarmCore

@Suite struct RationalTests {
    @Test func parsesDecimalsExactly() {
        #expect(Rational.parseDecimal("12.5") == Rational(25, 2))
        #expect(Rational.parseDecimal("4") == Rational(4))
        #expect(Rational.parseDecimal("0.1") == Rational(1, 10))
        #expect(Rational.parseDecimal("-0.25") == Rational(-1, 4))
        #expect(Rational.parseDecimal(".5") == Rational(1, 2))
        #expect(Rational.parseDecimal("1e3") == nil)
        #expect(Rational.parseDecimal("abc") == nil)
        #expect(Rational.parseDecimal("1.2.3") == nil)
        #expect(Rational.parseDecimal("") == nil)
        #expect(Rational.parseDecimal("0.1234567891") == nil)
    }

    @Test func roundsHalvesAwayFromZero() {
        #expect(Rational(5, 2).rounded() == 3)
        #expect(Rational(7, 3).rounded() == 2)
        #expect(Rational(-5, 2).rounded() == -3)
        #expect(Rational(479_520, 1000).rounded() == 480)
    }

    @Test func printsAsWritten() {
        #expect(Rational(25, 2).description == "12.5")
        #expect(Rational(1, 8).description == "0.125")
        #expect(Rational(20).description == "20")
        #expect(Rational(1, 3).description == "1/3")
    }

    /// Found by the shot-list fuzzer: these trapped on Int64 overflow.
    @Test func largeValuesNeitherOverflowNorTrap() {
        #expect(Rational.parseDecimal("999999999999.999999999") == nil)
        #expect(Rational.parseDecimal("9223372036.854775807") == Rational(9_223_372_036_854_775_807, 1_000_000_000))
        let huge = Rational(9_223_372_036_854_775_807, 1_000_000_000)
        #expect(Rational(1, 2) < huge)
        #expect(!(huge < Rational(1, 2)))
        #expect(Rational(-9_223_372_036_854_775_807, 1_000_000_000) < Rational(-1, 3))
        #expect(huge > Rational(20))
        #expect(huge.description == "9223372036.854775807")
        #expect(Rational(9_223_372_036_854_775_807, 2).description == "4611686018427387903.5")
        #expect(Rational(9_223_372_036_854_775_807, 2).rounded() == 4_611_686_018_427_387_904)
        #expect(Rational(-9_223_372_036_854_775_807, 2).rounded() == -4_611_686_018_427_387_904)
        #expect(FrameRate(text: "-9223372036854775808") == nil)
        #expect(FrameRate(text: "-9223372036854775808/1") == nil)
        #expect(FrameRate(text: "9223372036854775807/9223372036854775807") == nil)
    }

    @Test func frameMappingIsExactAtNTSCRates() {
        let fps = FrameRate(text: "24000/1001")!
        // 4.5 s * 23.976 = 107.892 -> 108; 0.1 s at 30 is exactly frame 3, never 3.0000000000000004.
        #expect(fps.frame(at: Rational(9, 2)) == 108)
        #expect(FrameRate(text: "30")!.frame(at: Rational(1, 10)) == 3)
        #expect(FrameRate(text: "23.976") == nil)
        #expect(FrameRate(text: "29") == nil)
    }

    @Test func pictureSizesAreEvenAndCapAt1080() {
        #expect(PictureSize(resolution: .p1080, aspect: .widescreen).description == "1920x1080")
        #expect(PictureSize(resolution: .p540, aspect: .widescreen).description == "960x540")
        #expect(PictureSize(resolution: .p720, aspect: .vertical).description == "720x1280")
        #expect(PictureSize(resolution: .p1080, aspect: .cinema).description == "2520x1080")
        #expect(PictureSize(resolution: .p540, aspect: .classic).description == "720x540")
        #expect(PictureSize(resolution: .p1080, aspect: .square).description == "1080x1080")
    }
}
