import Foundation

/// Reads an HTTP `Retry-After` value (RFC 9110 section 10.2.3) into a wait.
///
/// Pure: the current time is an input. Both forms are read: delta-seconds (`120`) and an
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`). The wait is capped at `cap`, so a confused
/// or hostile server cannot park a job for days; a date already past means "now" (zero).
public enum RetryAfter {
    /// The longest wait a `Retry-After` can ask for.
    public static let cap: Duration = .seconds(3600)

    /// The wait the header asks for, or nil when the value is negative or not either form.
    public static func parse(_ value: String, now: Date) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        if trimmed.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            // All digits: delta-seconds. Too many digits for an Int is simply "very long".
            guard let seconds = Int(trimmed) else { return cap }
            return min(.seconds(seconds), cap)
        }
        guard let date = imfFixdate(trimmed) else { return nil }
        let delta = date.timeIntervalSince(now)
        guard delta > 0 else { return .zero }
        return min(.milliseconds(Int64((delta * 1000).rounded(.up))), cap)
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// Parses `Sun, 06 Nov 1994 08:49:37 GMT` by hand: no locale, no formatter state.
    static func imfFixdate(_ text: String) -> Date? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 6,
              parts[0].count == 4, parts[0].hasSuffix(","),
              weekdays.contains(String(parts[0].dropLast())),
              parts[1].count == 2, let day = digits(parts[1]),
              let monthIndex = months.firstIndex(of: String(parts[2])),
              parts[3].count == 4, let year = digits(parts[3]),
              parts[5] == "GMT"
        else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
              let hour = digits(clock[0]), let minute = digits(clock[1]), let second = digits(clock[2]),
              (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        let days = daysFromCivil(year: year, month: monthIndex + 1, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    private static func digits(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int(text)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
