import Foundation
import KeyfarmPostgres
import KeyfarmTestSupport
import Logging
import Testing

/// Statements, parameters, errors and transactions against a real server, one fresh database per test.
@Suite struct PostgresConnectionTests {
    let connection: PostgresConnection

    init() throws {
        connection = try PostgresConnection(conninfo: try TestPostgres.freshDatabase(), logger: Logger(label: "test"))
    }

    @Test func scalarParametersRoundTrip() throws {
        try connection.execute("""
            CREATE TABLE sample (
                name text, count bigint, small integer, big bigint, ratio double precision,
                ok boolean, at timestamptz)
            """)
        let at = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let insert = try connection.execute(
            "INSERT INTO sample VALUES ($1, $2, $3, $4, $5, $6, $7)",
            ["Zürich — 東京 🎬", 42, Int32(-7), Int64.max, 0.1 + 0.2, true, at])
        #expect(insert.affectedRows == 1)
        #expect(insert.commandTag == "INSERT 0 1")

        let row = try #require(try connection.execute("SELECT * FROM sample").first)
        #expect(try row.decode("name", as: String.self) == "Zürich — 東京 🎬")
        #expect(try row.decode("count", as: Int.self) == 42)
        #expect(try row.decode("small", as: Int32.self) == -7)
        #expect(try row.decode("big", as: Int64.self) == Int64.max)
        #expect(try row.decode("ratio", as: Double.self) == 0.1 + 0.2)
        #expect(try row.decode("ok", as: Bool.self) == true)
        let readAt = try row.decode("at", as: Date.self)
        #expect(abs(readAt.timeIntervalSince(at)) < 0.000_001)
    }

    @Test func nullsRoundTrip() throws {
        try connection.execute("CREATE TABLE sample (name text, count bigint, at timestamptz)")
        let name: String? = nil
        try connection.execute("INSERT INTO sample VALUES ($1, $2, $3)", [name, nil as Int?, PostgresNull()])
        try connection.execute("INSERT INTO sample VALUES ($1, $2, $3)", ["x", .null, Optional(Date())])
        let rows = try connection.execute("SELECT * FROM sample ORDER BY name NULLS FIRST")
        #expect(rows.count == 2)
        #expect(try rows[0].decode("name", as: String?.self) == nil)
        #expect(try rows[0].decode("count", as: Int?.self) == nil)
        #expect(rows[0]["at"] == nil)
        #expect(try rows[1].decode("name", as: String?.self) == "x")
        #expect(try rows[1].decode("at", as: Date?.self) != nil)
        let error = #expect(throws: PostgresError.self) { try rows[0].decode("count", as: Int.self) }
        #expect(error?.description.contains("\"count\"") == true)
        #expect(error?.description.contains("NULL") == true)
    }

    @Test func specialDoublesRoundTrip() throws {
        for value in [Double.infinity, -Double.infinity, 1e-300, -0.0, 123_456.789] {
            let row = try #require(try connection.execute("SELECT $1::float8 AS v", [value]).first)
            #expect(try row.decode("v", as: Double.self) == value)
        }
        let nan = try #require(try connection.execute("SELECT $1::float8 AS v", [Double.nan]).first)
        #expect(try nan.decode("v", as: Double.self).isNaN)
    }

    @Test func arraysKeepAwkwardElementsIntact() throws {
        let awkward = ["a,b", "quote\"d", "back\\slash", "{braces}", "NULL", "", " spaced ", "ünïcødé 🎬", "'single'"]
        let row = try #require(try connection.execute(
            "SELECT $1::text[] AS texts, $2::bigint[] AS ints, $3::bigint[] AS bigs, cardinality($1::text[]) AS n",
            [awkward, [1, -2, 3], [Int64.min, Int64.max]]).first)
        #expect(try row.decode("n", as: Int.self) == awkward.count)
        #expect(try row.decode("texts", as: [String].self) == awkward)
        #expect(try row.decode("ints", as: [Int].self) == [1, -2, 3])
        #expect(try row.decode("bigs", as: [Int64].self) == [Int64.min, Int64.max])

        let empty = try #require(try connection.execute("SELECT $1::text[] AS v", [[String]()]).first)
        #expect(try empty.decode("v", as: [String].self) == [])

        let withNull: [String?] = ["a", nil, "NULL"]
        let nullRow = try #require(try connection.execute(
            "SELECT $1::text[] AS v, ($1::text[])[2] IS NULL AS second_is_null, ($1::text[])[3] AS third",
            [withNull]).first)
        #expect(try nullRow.decode("second_is_null", as: Bool.self))
        #expect(try nullRow.decode("third", as: String.self) == "NULL")
        #expect(throws: PostgresError.self) { try nullRow.decode("v", as: [String].self) }
    }

    @Test func timestampsReadInAnyTimeZone() throws {
        try connection.execute("SET TIME ZONE INTERVAL '+05:30' HOUR TO MINUTE")
        let at = Date(timeIntervalSince1970: 1_763_740_421.5)
        let row = try #require(try connection.execute("SELECT $1::timestamptz AS at, $1::timestamptz::text AS text", [at]).first)
        #expect(try row.decode("text", as: String.self).hasSuffix("+05:30"))
        #expect(try row.decode("at", as: Date.self) == at)
    }

    @Test func injectionStringStaysData() throws {
        try connection.execute("CREATE TABLE shots (name text)")
        let hostile = "x'); DROP TABLE shots; --"
        try connection.execute("INSERT INTO shots (name) VALUES ($1)", [hostile])
        let rows = try connection.execute("SELECT name FROM shots WHERE name = $1", [hostile])
        #expect(try rows.map { try $0.decode("name", as: String.self) } == [hostile])
    }

    @Test func errorsCarrySQLStateAndContext() throws {
        try connection.execute("CREATE TABLE jobs (id bigint PRIMARY KEY)")
        try connection.execute("INSERT INTO jobs VALUES ($1)", [1])
        let duplicate = #expect(throws: PostgresError.self) {
            try connection.execute("INSERT INTO jobs VALUES ($1)\n-- second line", [1])
        }
        #expect(duplicate?.sqlState == "23505")
        #expect(duplicate?.isUniqueViolation == true)
        #expect(duplicate?.context.contains("INSERT INTO jobs VALUES ($1)") == true)
        #expect(duplicate?.context.contains("second line") == false)
        #expect(duplicate?.detail?.contains("already exists") == true)

        let syntax = #expect(throws: PostgresError.self) { try connection.execute("SELEC 1") }
        #expect(syntax?.sqlState == "42601")
        #expect(syntax?.description.contains("(SQLSTATE 42601)") == true)
        #expect(syntax?.isSerializationFailure == false)

        // The connection is still usable after an error.
        #expect(try connection.execute("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
    }

    @Test func decodingErrorsNameTheColumn() throws {
        let row = try #require(try connection.execute("SELECT 'abc'::text AS word").first)
        let unreadable = #expect(throws: PostgresError.self) { try row.decode("word", as: Int.self) }
        #expect(unreadable?.description.contains("\"word\"") == true)
        let missing = #expect(throws: PostgresError.self) { try row.decode("nope", as: String.self) }
        #expect(missing?.description.contains("\"nope\"") == true)
    }

    @Test func connectionErrorsSayWhatFailedWithoutThePassword() throws {
        let error = #expect(throws: PostgresError.self) {
            _ = try PostgresConnection(conninfo: "host=/nonexistent/socket/dir port=5 user=x password=hunter2 connect_timeout=2",
                                       logger: Logger(label: "test"))
        }
        #expect(error?.context == "connecting to the database")
        #expect(error?.sqlState == nil)
        #expect(error?.description.contains("hunter2") == false)
    }

    @Test func transactionCommits() throws {
        try connection.execute("CREATE TABLE ledger (amount bigint)")
        let total = try connection.transaction { transaction in
            try transaction.execute("INSERT INTO ledger VALUES ($1), ($2)", [5, 7])
            return try transaction.execute("SELECT sum(amount) AS total FROM ledger")[0].decode("total", as: Int.self)
        }
        #expect(total == 12)
        #expect(try connection.execute("SELECT count(*) AS n FROM ledger")[0].decode("n", as: Int.self) == 2)
    }

    @Test func transactionRollsBackWhenTheBodyThrows() throws {
        struct Abandoned: Error {}
        try connection.execute("CREATE TABLE ledger (amount bigint)")
        #expect(throws: Abandoned.self) {
            try connection.transaction { transaction in
                try transaction.execute("INSERT INTO ledger VALUES ($1)", [5])
                throw Abandoned()
            }
        }
        #expect(try connection.execute("SELECT count(*) AS n FROM ledger")[0].decode("n", as: Int.self) == 0)

        // A failing statement inside rolls back too and rethrows the server's error.
        let error = #expect(throws: PostgresError.self) {
            try connection.transaction { transaction in
                try transaction.execute("INSERT INTO ledger VALUES ($1)", [5])
                try transaction.execute("INSERT INTO ledger VALUES ($1)", ["not a number"])
            }
        }
        #expect(error?.sqlState == "22P02")
        #expect(try connection.execute("SELECT count(*) AS n FROM ledger")[0].decode("n", as: Int.self) == 0)
    }

    @Test func aDeferredBeginWaitsForTheFirstStatementAndAnEmptyBodyCostsNothing() throws {
        struct Abandoned: Error {}
        try connection.execute("CREATE TABLE ledger (amount bigint)")
        var guardRuns = 0
        connection.commitGuard = { _ in guardRuns += 1 }
        defer { connection.commitGuard = nil }
        // Nothing run: no BEGIN, no guard, no COMMIT, and no transaction left open.
        let untouched = try connection.transaction(deferringBegin: true) { transaction in transaction.isInTransaction }
        #expect(untouched)
        #expect(guardRuns == 0)
        #expect(!connection.isInTransaction)
        // Statements run: one transaction (one transaction id for both), guarded and committed.
        let ids = try connection.transaction(deferringBegin: true) { transaction in
            try transaction.execute("INSERT INTO ledger VALUES ($1)", [5])
            let first = try transaction.execute("SELECT txid_current() AS id")[0].decode("id", as: Int64.self)
            try transaction.execute("INSERT INTO ledger VALUES ($1)", [7])
            return [first, try transaction.execute("SELECT txid_current() AS id")[0].decode("id", as: Int64.self)]
        }
        #expect(ids[0] == ids[1])
        #expect(guardRuns == 1)
        #expect(try connection.execute("SELECT sum(amount) AS total FROM ledger")[0].decode("total", as: Int.self) == 12)
        // A body that throws after its first statement rolls back; one that throws before any
        // has nothing to roll back.
        #expect(throws: Abandoned.self) {
            try connection.transaction(deferringBegin: true) { transaction in
                try transaction.execute("INSERT INTO ledger VALUES ($1)", [100])
                throw Abandoned()
            }
        }
        #expect(throws: Abandoned.self) {
            try connection.transaction(deferringBegin: true) { _ in throw Abandoned() }
        }
        #expect(!connection.isInTransaction)
        #expect(try connection.execute("SELECT count(*) AS n FROM ledger")[0].decode("n", as: Int.self) == 2)
        #expect(guardRuns == 1)
    }

    @Test func commitOfAFailedTransactionThrows() throws {
        try connection.execute("CREATE TABLE ledger (amount bigint)")
        #expect(throws: PostgresError.self) {
            try connection.transaction { transaction in
                try transaction.execute("INSERT INTO ledger VALUES ($1)", [1])
                _ = try? transaction.execute("SELEC oops")  // swallowed: the transaction is now aborted
            }
        }
        #expect(try connection.execute("SELECT count(*) AS n FROM ledger")[0].decode("n", as: Int.self) == 0)
    }

    @Test func scriptRunsSeveralStatements() throws {
        try connection.executeScript("""
            CREATE TABLE shots (id bigint PRIMARY KEY, name text NOT NULL);
            INSERT INTO shots VALUES (1, 'opening');
            INSERT INTO shots VALUES (2, 'chase; with a semicolon');
            """)
        let names = try connection.execute("SELECT name FROM shots ORDER BY id").map { try $0.decode("name", as: String.self) }
        #expect(names == ["opening", "chase; with a semicolon"])

        let error = #expect(throws: PostgresError.self) {
            try connection.executeScript("INSERT INTO shots VALUES (1, 'again');", context: "running migration 7")
        }
        #expect(error?.context == "running migration 7")
        #expect(error?.isUniqueViolation == true)
    }

    @Test func affectedRowsCountsUpdates() throws {
        try connection.executeScript("CREATE TABLE jobs (state text); INSERT INTO jobs SELECT 'queued' FROM generate_series(1, 3);")
        let update = try connection.execute("UPDATE jobs SET state = $1 WHERE state = $2", ["leased", "queued"])
        #expect(update.affectedRows == 3)
        #expect(connection.serverVersion >= 100_000)
        #expect(connection.socket >= 0)
    }

    @Test func closeIsIdempotent() throws {
        connection.close()
        connection.close()
        #expect(!connection.isOpen)
        #expect(throws: PostgresError.self) { try connection.execute("SELECT 1") }
    }
}
