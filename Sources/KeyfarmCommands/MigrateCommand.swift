import ArgumentParser
import KeyfarmStore

/// `keyfarm migrate`: brings the database schema up to date.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade Keyfarm's schema (`keyfarm`) in the database.",
        discussion: """
            Applies every migration the database has not seen, each in its own transaction, and \
            records it in keyfarm.schema_migrations. Running it again changes nothing; two at once \
            are serialised by an advisory lock.
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    @Flag(help: "Print the outcome as JSON.")
    var json = false

    struct Outcome: Encodable {
        var applied: [Applied]
        var version: Int
        struct Applied: Encodable { var version: Int; var name: String }
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger(), forMigration: true)
            let applied = try store.migrate()
            let version = try store.migrator.currentVersion()
            if json {
                try printJSON(Outcome(applied: applied.map { .init(version: $0.version, name: $0.name) }, version: version))
                return
            }
            for migration in applied {
                Console.current.print("applied migration \(migration.version): \(migration.name)")
            }
            Console.current.print(applied.isEmpty ? "the schema is up to date (version \(version))"
                                                  : "the schema is now at version \(version)")
        }
    }
}
