import Foundation
import KeyfarmPostgres
import KeyfarmStore
import Testing

/// Runs every query of the Grafana dashboard (ops/grafana/keyfarm.json) and of the psql
/// examples (ops/sql/*.sql) as a member of `keyfarm_dashboard`, against the scenario farm.
///
/// What "the columns a panel uses" means here, so that a query and its panel cannot drift apart:
/// - A `time_series` target must return `time` (epoch seconds or a timestamp, as Grafana
///   requires), may return `metric` (text, the series' name), and every other column is a
///   value, so it must be numeric.
/// - A `table` target must return exactly the columns its panel's `organize` transformation
///   lists (`indexByName`; every table-format panel has one). In a panel that is not a table
///   (stat, bar gauge) the first column may be a text label and the others must be numeric.
/// - Every field a `byName` override or a `reduceOptions.fields` pattern names is a column.
/// - Every query returns at least one row on the scenario, so these checks see real values,
///   and names no relation but the documented views.
///
/// Grafana's macros are expanded as its PostgreSQL data source does (`$__timeFilter(c)` becomes
/// `c BETWEEN 'from' AND 'to'`, `$__timeGroupAlias(c, 1m)` becomes
/// `floor(extract(epoch from c)/60)*60 AS "time"`, ...), for a range from a day ago to an hour ahead.
@Suite struct DashboardTests {
    static let dashboardPath = "ops/grafana/keyfarm.json"

    struct PanelQuery: CustomStringConvertible {
        var panel: [String: Any]
        var title: String
        var type: String
        var format: String
        var sql: String
        var description: String { "panel \"\(title)\"" }
    }

    static func loadDashboard() throws -> [String: Any] {
        let data = try Data(contentsOf: repositoryRoot.appending(path: dashboardPath))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func panelQueries(_ dashboard: [String: Any]) throws -> [PanelQuery] {
        var queries: [PanelQuery] = []
        var panels = dashboard["panels"] as? [[String: Any]] ?? []
        // A collapsed row keeps its panels inside it.
        panels += panels.flatMap { $0["panels"] as? [[String: Any]] ?? [] }
        for panel in panels where panel["type"] as? String != "row" {
            let title = panel["title"] as? String ?? "?"
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                queries.append(PanelQuery(panel: panel, title: title, type: panel["type"] as? String ?? "?",
                                          format: target["format"] as? String ?? "?",
                                          sql: try #require(target["rawSql"] as? String, "\(title): rawSql")))
            }
        }
        return queries
    }

    @Test func theDashboardIsAnImportableGrafanaDashboardOnOnePostgreSQLDataSource() throws {
        let dashboard = try Self.loadDashboard()
        #expect(dashboard["schemaVersion"] as? Int == 39)
        let inputs = try #require(dashboard["__inputs"] as? [[String: Any]])
        #expect(inputs.map { $0["name"] as? String } == ["DS_POSTGRES"])
        #expect(inputs.first?["pluginId"] as? String == "grafana-postgresql-datasource")
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let ids = panels.compactMap { $0["id"] as? Int }
        #expect(Set(ids).count == panels.count, "panel ids are unique")
        for panel in panels where panel["type"] as? String != "row" {
            let title = panel["title"] as? String ?? "?"
            #expect((panel["description"] as? String)?.isEmpty == false, "\(title) says what it shows")
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                let datasource = target["datasource"] as? [String: Any]
                #expect(datasource?["type"] as? String == "grafana-postgresql-datasource", "\(title)")
                #expect(datasource?["uid"] as? String == "${DS_POSTGRES}", "\(title)")
                #expect(target["rawQuery"] as? Bool == true, "\(title)")
                #expect(["time_series", "table"].contains(target["format"] as? String ?? ""), "\(title)")
            }
        }
        // The panels the issue asks for.
        let titles = try Self.panelQueries(dashboard).map(\.title.localizedLowercase)
        for wanted in ["queue depth", "throughput", "shot progress", "error class", "worker health", "spend by provider",
                       "against budget"] {
            #expect(titles.contains { $0.contains(wanted) }, "a panel for \(wanted)")
        }
    }

    @Test func everyPanelQueryReturnsTheColumnsItsPanelUses() throws {
        let queries = try Self.panelQueries(try Self.loadDashboard())
        #expect(queries.count >= 8)
        let views = Set(try RoleTests.documentedViews())
        try withDashboardLogin { dashboard in
            for query in queries {
                let sql = try GrafanaMacros.expand(query.sql, from: Date() - 86_400, to: Date() + 3_600)
                #expect(!sql.contains("$"), "\(query): a variable or macro is left in \(sql)")
                for relation in Self.relations(in: sql) {
                    #expect(views.contains(relation), "\(query) reads keyfarm.\(relation), not a documented view")
                }
                let result: PostgresResult
                do {
                    result = try dashboard.connection.execute(sql)
                } catch {
                    Issue.record("\(query): \(error)\n\(sql)")
                    continue
                }
                #expect(!result.rows.isEmpty, "\(query) has rows on the scenario")
                switch query.format {
                case "time_series":
                    try checkTimeSeries(result, query)
                default:
                    try checkTable(result, query)
                }
                for name in Self.fieldsNamed(by: query.panel) {
                    #expect(result.columns.contains(name), "\(query) configures field \(name), which its query does not return")
                }
                // Grafana matches overrides by display name: a renamed field would lose its override.
                for name in Self.overriddenFields(query.panel) {
                    #expect(Self.renamedFields(query.panel)[name] == nil, "\(query) renames \(name), so its override no longer applies")
                }
            }
        }
    }

    @Test func everyPsqlExampleRunsAsADashboardLogin() throws {
        let folder = repositoryRoot.appending(path: "ops/sql")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.count >= 4)
        let views = Set(try RoleTests.documentedViews())
        try withDashboardLogin { dashboard in
            for file in files {
                let text = try String(contentsOf: folder.appending(path: file), encoding: .utf8)
                let statements = Self.statements(in: text)
                #expect(!statements.isEmpty, "\(file) has a query")
                for statement in statements {
                    for relation in Self.relations(in: statement) {
                        #expect(views.contains(relation), "\(file) reads keyfarm.\(relation), not a documented view")
                    }
                    do {
                        let result = try dashboard.connection.execute(statement)
                        #expect(!result.rows.isEmpty, "\(file): no rows on the scenario for\n\(statement)")
                    } catch {
                        Issue.record("\(file): \(error)\n\(statement)")
                    }
                }
            }
        }
    }

    // MARK: - Checks

    private func checkTimeSeries(_ result: PostgresResult, _ query: PanelQuery) throws {
        #expect(result.columns.first == "time", "\(query): a time series starts with its time column")
        let values = result.columns.filter { $0 != "time" && $0 != "metric" }
        #expect(!values.isEmpty, "\(query): a time series needs a value column")
        for row in result.rows {
            let time = try #require(row["time"], "\(query): time is null")
            #expect(Double(time) != nil || (try? row.decode("time", as: Date.self)) != nil,
                    "\(query): time \(time) is neither epoch seconds nor a timestamp")
            for column in values { #expect(isNumeric(row[column]), "\(query): \(column) = \(row[column] ?? "null") is not a number") }
        }
    }

    private func checkTable(_ result: PostgresResult, _ query: PanelQuery) throws {
        let transformations = query.panel["transformations"] as? [[String: Any]] ?? []
        let organize = transformations.first { $0["id"] as? String == "organize" }
        let options = organize?["options"] as? [String: Any]
        let shown = try #require(options?["indexByName"] as? [String: Int], "\(query): a table panel lists its columns")
        #expect(Set(result.columns) == Set(shown.keys), "\(query): returns \(result.columns), the panel shows \(shown.keys.sorted())")
        #expect(result.columns == shown.sorted { $0.value < $1.value }.map(\.key), "\(query): columns in the panel's order")
        if query.type != "table" {
            for row in result.rows {
                for column in result.columns.dropFirst() {
                    #expect(isNumeric(row[column]), "\(query): \(column) = \(row[column] ?? "null") is not a number")
                }
            }
        }
    }

    private func isNumeric(_ text: String?) -> Bool {
        guard let text else { return true }  // NULL is a gap, which every panel draws
        return Double(text) != nil
    }

    static func overriddenFields(_ panel: [String: Any]) -> [String] {
        let overrides = (panel["fieldConfig"] as? [String: Any])?["overrides"] as? [[String: Any]] ?? []
        return overrides.compactMap { override in
            let matcher = override["matcher"] as? [String: Any]
            return matcher?["id"] as? String == "byName" ? matcher?["options"] as? String : nil
        }
    }

    static func renamedFields(_ panel: [String: Any]) -> [String: String] {
        let transformations = panel["transformations"] as? [[String: Any]] ?? []
        let organize = transformations.first { $0["id"] as? String == "organize" }
        return (organize?["options"] as? [String: Any])?["renameByName"] as? [String: String] ?? [:]
    }

    /// Field names the panel's configuration refers to: `byName` overrides and a literal
    /// `reduceOptions.fields` pattern such as `/^jobs$/`.
    static func fieldsNamed(by panel: [String: Any]) -> [String] {
        var names = overriddenFields(panel)
        let reduce = (panel["options"] as? [String: Any])?["reduceOptions"] as? [String: Any]
        if let pattern = reduce?["fields"] as? String, pattern.hasPrefix("/^"), pattern.hasSuffix("$/") {
            names.append(String(pattern.dropFirst(2).dropLast(2)))
        }
        return names
    }

    /// The `keyfarm.` relations a query names.
    static func relations(in sql: String) -> [String] {
        let pattern = #/keyfarm\.([A-Za-z_][A-Za-z0-9_]*)/#
        return sql.matches(of: pattern).map { String($0.output.1) }
    }

    /// The statements of a psql file: comment lines dropped, split at a `;` that ends a line.
    static func statements(in text: String) -> [String] {
        var statements: [String] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("--") { continue }
            current += line + "\n"
            if line.trimmingCharacters(in: .whitespaces).hasSuffix(";") {
                statements.append(current.trimmingCharacters(in: .whitespacesAndNewlines))
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            statements.append(current.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return statements
    }

    /// The scenario farm, and a `keyfarm_dashboard` login to it for `body`.
    private func withDashboardLogin(_ body: (FarmStore) throws -> Void) throws {
        let (owner, conninfo) = try freshOwnedStore()
        _ = try FarmScenario.populate(operator: owner, coordinator: owner)
        let login = try MemberLogin(of: "keyfarm_dashboard", owner: owner, databaseConninfo: conninfo)
        defer { try? login.drop() }
        let dashboard = try login.store()
        defer { dashboard.connection.close() }
        try body(dashboard)
    }
}

/// Grafana's PostgreSQL macros, expanded the way its data source does before it sends a query.
enum GrafanaMacros {
    struct Unknown: Error, CustomStringConvertible {
        var description: String
    }

    static func expand(_ sql: String, from: Date, to: Date) throws -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        let fromText = "'" + formatter.string(from: from) + "'", toText = "'" + formatter.string(from: to) + "'"
        var failure: Unknown?
        // Grafana's own pattern: a name, then arguments up to the first closing parenthesis.
        let expanded = sql.replacing(#/\$([_a-zA-Z0-9]+)\(([^\)]*)\)/#, with: { match -> String in
            let arguments = match.output.2.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let column = arguments.first ?? ""
            switch String(match.output.1) {
            case "__time": return "\(column) AS \"time\""
            case "__timeEpoch": return "extract(epoch from \(column)) as \"time\""
            case "__timeFilter": return "\(column) BETWEEN \(fromText) AND \(toText)"
            case "__timeFrom": return fromText
            case "__timeTo": return toText
            case "__timeGroup", "__timeGroupAlias":
                guard arguments.count >= 2, let seconds = intervalSeconds(arguments[1]) else {
                    failure = Unknown(description: "\(match.output.0): needs a column and an interval such as 1m")
                    return ""
                }
                let group = "floor(extract(epoch from \(column))/\(seconds))*\(seconds)"
                return match.output.1 == "__timeGroupAlias" ? group + " AS \"time\"" : group
            default:
                failure = Unknown(description: "unknown macro \(match.output.0)")
                return ""
            }
        })
        if let failure { throw failure }
        return expanded
    }

    /// `30s`, `1m`, `5m`, `1h`, `1d`, `1w` (quotes allowed) in seconds.
    static func intervalSeconds(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        guard let unit = trimmed.last, let count = Int(trimmed.dropLast()), count > 0 else { return nil }
        let scale: [Character: Int] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]
        return scale[unit].map { $0 * count }
    }
}
