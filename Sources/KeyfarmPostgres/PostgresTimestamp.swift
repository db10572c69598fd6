import Foundation

/// Converts between `Date` and PostgreSQL's timestamp text, with microsecond precision and no locale.
///
/// Written by hand rather than with a formatter so that it is thread-safe, fast and exact for the
/// forms the server prints under DateStyle ISO ("2026-11-21 15:53:41.123456+00", "+05:30", " BC").
enum PostgresTimestamp {
    /// ISO 8601 in UTC with microseconds, e.g. "2026-11-21T15:53:41.123456Z".
    static func format(_ date: Date) -> String {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        let total = Int64(micros)
        var seconds = total / 1_000_000
        var fraction = total % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (year, month, day) = civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let yearText = year > 0 ? pad(year, 4) : pad(1 - year, 4)
        let body = "\(yearText)-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))Z"
        return year > 0 ? body : body + " BC"
    }

    /// Parses timestamp or timestamptz output; a value without an offset is taken as UTC.
    static func parse(_ text: String) throws -> Date {
        func failure() -> PostgresError {
            PostgresError(context: "reading a timestamp", message: "cannot read \(PostgresValuePreview.of(text)) as a timestamp")
        }
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        var scanner = Array(text.utf8)[...]
        var isBC = false
        if scanner.count >= 3, String(decoding: scanner.suffix(3), as: UTF8.self) == " BC" {
            isBC = true
            scanner = scanner.dropLast(3)
        }
        func number(maxDigits: Int = 10) -> Int64? {
            var value: Int64 = 0
            var count = 0
            while let byte = scanner.first, byte >= 48, byte <= 57, count < maxDigits {
                value = value * 10 + Int64(byte - 48)
                scanner = scanner.dropFirst()
                count += 1
            }
            return count == 0 ? nil : value
        }
        func expect(_ character: UInt8) -> Bool {
            guard scanner.first == character else { return false }
            scanner = scanner.dropFirst()
            return true
        }
        guard var year = number(), expect(UInt8(ascii: "-")),
              let month = number(maxDigits: 2), expect(UInt8(ascii: "-")),
              let day = number(maxDigits: 2), (1...12).contains(month), (1...31).contains(day)
        else { throw failure() }
        if isBC { year = 1 - year }
        var secondOfDay: Int64 = 0
        var micros: Int64 = 0
        var offset: Int64 = 0
        if expect(UInt8(ascii: " ")) || expect(UInt8(ascii: "T")) {
            guard let hour = number(maxDigits: 2), expect(UInt8(ascii: ":")),
                  let minute = number(maxDigits: 2), expect(UInt8(ascii: ":")),
                  let second = number(maxDigits: 2), hour <= 24, minute < 60, second < 61
            else { throw failure() }
            secondOfDay = hour * 3600 + minute * 60 + second
            if expect(UInt8(ascii: ".")) {
                var digits = 0
                while let byte = scanner.first, byte >= 48, byte <= 57 {
                    if digits < 6 { micros = micros * 10 + Int64(byte - 48) }
                    digits += 1
                    scanner = scanner.dropFirst()
                }
                guard digits > 0 else { throw failure() }
                for _ in min(digits, 6)..<6 { micros *= 10 }
            }
            if expect(UInt8(ascii: "Z")) {
                offset = 0
            } else if let sign = scanner.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                scanner = scanner.dropFirst()
                guard let hours = number(maxDigits: 2) else { throw failure() }
                var seconds = hours * 3600
                if expect(UInt8(ascii: ":")) {
                    guard let minutes = number(maxDigits: 2) else { throw failure() }
                    seconds += minutes * 60
                    if expect(UInt8(ascii: ":")) {
                        guard let extra = number(maxDigits: 2) else { throw failure() }
                        seconds += extra
                    }
                } else if let minutes = number(maxDigits: 2) {
                    seconds += minutes * 60  // "+0530"
                }
                offset = sign == UInt8(ascii: "+") ? seconds : -seconds
            }
        }
        guard scanner.isEmpty else { throw failure() }
        let seconds = days(fromCivil: year, month, day) * 86_400 + secondOfDay - offset
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    // Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar, astronomical years).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
