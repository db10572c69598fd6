import Foundation
import KeyfarmProviders
import Testing

/// `Retry-After` values in both RFC 9110 forms, and the ones to ignore.
@Suite struct RetryAfterTests {
    /// 1994-11-06 08:49:37 UTC, the RFC's own example date.
    static let rfcExample = Date(timeIntervalSince1970: 784_111_777)

    @Test(arguments: [("7", 7), ("0", 0), (" 120 ", 120), ("3600", 3600)])
    func deltaSeconds(value: String, seconds: Int) {
        #expect(RetryAfter.parse(value, now: Self.rfcExample) == .seconds(seconds))
    }

    @Test func httpDate() {
        let now = Self.rfcExample.addingTimeInterval(-90)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == .seconds(90))
    }

    @Test func pastDateMeansNow() {
        let now = Self.rfcExample.addingTimeInterval(10)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == .zero)
    }

    @Test func cappedAtAnHour() {
        #expect(RetryAfter.parse("86400", now: Self.rfcExample) == .seconds(3600))
        #expect(RetryAfter.parse("99999999999999999999999", now: Self.rfcExample) == .seconds(3600))
        #expect(RetryAfter.parse("Wed, 01 Jan 2100 00:00:00 GMT", now: Self.rfcExample) == .seconds(3600))
    }

    @Test(arguments: ["", "   ", "-5", "1.5", "soon", "7s", "+7",
                      "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                      "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 32 Nov 1994 08:49:37 GMT",
                      "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT"])
    func garbageIsIgnored(value: String) {
        #expect(RetryAfter.parse(value, now: Self.rfcExample) == nil)
    }
}
