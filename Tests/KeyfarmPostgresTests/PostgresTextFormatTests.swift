import Foundation
@testable import KeyfarmPostgres
import Testing

/// The text formats, without a server: arrays, timestamps and conninfo strings.
@Suite struct PostgresTextFormatTests {
    @Test func arrayLiteralsParseAsTheServerPrintsThem() throws {
        #expect(try PostgresArrayLiteral.parse("{}") == [])
        #expect(try PostgresArrayLiteral.parse(#"{a,"b,c",NULL,"NULL","x\"y","back\\slash",""}"#)
                == ["a", "b,c", nil, "NULL", "x\"y", "back\\slash", ""])
        #expect(try PostgresArrayLiteral.parse("[0:1]={1,2}") == ["1", "2"])
        #expect(throws: PostgresError.self) { try PostgresArrayLiteral.parse("{{1,2},{3,4}}") }
        #expect(throws: PostgresError.self) { try PostgresArrayLiteral.parse("1,2") }
        #expect(throws: PostgresError.self) { try [Int](postgresText: "{1,NULL}") }
    }

    @Test func arrayLiteralsQuoteEveryElement() throws {
        #expect(["a,b", "q\"", "b\\", nil].postgresText == #"{"a,b","q\"","b\\",NULL}"#)
        // Multi-byte characters (a combining accent, an emoji with a skin tone) next to what is escaped.
        let unicode: [String?] = ["e\u{301}\"", "👍🏽\\x", "日本", "", nil]
        #expect(try PostgresArrayLiteral.parse(try #require(unicode.postgresText)) == unicode)
        #expect([Int]().postgresText == "{}")
        #expect([1, 2].postgresText == #"{"1","2"}"#)
    }

    @Test func timestampsParseEveryISOForm() throws {
        let base = Date(timeIntervalSince1970: 1_795_276_421)  // 2026-11-21 15:53:41 UTC
        #expect(try Date(postgresText: "2026-11-21 15:53:41+00") == base)
        #expect(try Date(postgresText: "2026-11-21 15:53:41.123456+00").timeIntervalSince(base) - 0.123456 < 1e-6)
        #expect(try Date(postgresText: "2026-11-21 21:23:41+05:30") == base)
        #expect(try Date(postgresText: "2026-11-21 07:53:41-08") == base)
        #expect(try Date(postgresText: "2026-11-21 15:53:41") == base)
        #expect(try Date(postgresText: "2026-11-21T15:53:41Z") == base)
        #expect(try Date(postgresText: "infinity") == .distantFuture)
        #expect(throws: PostgresError.self) { try Date(postgresText: "yesterday") }
        #expect(throws: PostgresError.self) { try Date(postgresText: "2026-13-01 00:00:00+00") }
    }

    @Test func timestampsFormatAsUTCWithMicroseconds() throws {
        let date = Date(timeIntervalSince1970: 1_795_276_421.25)
        #expect(date.postgresText == "2026-11-21T15:53:41.250000Z")
        #expect(Date(timeIntervalSince1970: -1.5).postgresText == "1969-12-31T23:59:58.500000Z")
        #expect(try Date(postgresText: "1969-12-31 23:59:58.5+00") == Date(timeIntervalSince1970: -1.5))
    }

    @Test func conninfoPasswordsAreRedacted() {
        #expect(PostgresConninfo.redacted("host=db user=kf password=hunter2 dbname=x") == "host=db user=kf password=*** dbname=x")
        #expect(PostgresConninfo.redacted("password = 'a b\\' c' host=db") == "password = *** host=db")
        #expect(PostgresConninfo.redacted("postgresql://kf:hunter2@db:5432/farm?password=x&sslmode=require")
                == "postgresql://kf:***@db:5432/farm?password=***&sslmode=require")
        #expect(PostgresConninfo.redacted("postgresql://kf@db/farm") == "postgresql://kf@db/farm")
    }

    @Test func conninfoDatabaseIsReplaced() throws {
        let fromURL = try PostgresConninfo.replacingDatabase(in: "postgresql://kf@/farm?host=/tmp/s%20x&port=5433", with: "other")
        #expect(fromURL == "user=kf host='/tmp/s x' port=5433 dbname=other")
        let fromPairs = try PostgresConninfo.replacingDatabase(in: "host=/run/pg dbname=postgres", with: "kf_test_1")
        #expect(fromPairs == "host=/run/pg dbname=kf_test_1")
        #expect(throws: PostgresError.self) { try PostgresConninfo.replacingDatabase(in: "host='unterminated", with: "x") }
    }
}
