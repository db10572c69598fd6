import ArgumentParser
import KeyfarmStore

/// `keyfarm budget`: credit caps per shot list and per project.
struct BudgetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget",
        abstract: "Set the credit budget of a shot list or a project.",
        discussion: """
            Before a provider job is dispatched its estimate is reserved against its shot list's \
            budget (the shot list's `budget:`, or the one set here) and its project's budget. A job \
            that does not fit waits as `blocked`, with the reason in `keyfarm status`, and is \
            dispatched when a budget rises or a reservation ends. Results settle reservations into \
            the ledger (`keyfarm credits`).
            """,
        subcommands: [SetBudget.self, ListBudgets.self], defaultSubcommand: ListBudgets.self)

    struct SetBudget: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Set a budget in credits (`none` removes the cap).",
            discussion: "Examples: keyfarm budget set --shot-list acme-spot 5000; keyfarm budget set --project acme none")
        @Option(name: .customLong("shot-list"), help: ArgumentHelp("A shot list's name.", valueName: "name")) var shotList: String?
        @Option(help: ArgumentHelp("The project: with --shot-list, the list's project; alone, the project's budget.", valueName: "project"))
        var project: String?
        @Argument(help: ArgumentHelp("Credits, or `none`.", valueName: "credits")) var credits: String
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        var amount: Int64? { credits == "none" ? nil : Int64(credits) }

        func validate() throws {
            guard shotList != nil || project != nil else { throw ValidationError("give --shot-list NAME or --project NAME") }
            guard credits == "none" || (amount.map { (0...1_000_000_000).contains($0) } ?? false) else {
                throw ValidationError("credits: \"\(credits)\" is not a whole number of credits (0..1000000000) or `none`")
            }
        }

        func run() throws {
            try reportingFailures {
                let store = try database.openStore(logger: try common.logger())
                let cap = amount.map { "\($0) credits" } ?? "no cap"
                if let shotList {
                    _ = try store.setBudget(shotList: shotList, project: project, credits: amount)
                    Console.current.print("shot list \(shotList): budget \(cap)")
                } else if let project {
                    try store.setBudget(project: project, credits: amount)
                    Console.current.print("project \(project): budget \(cap)")
                }
            }
        }
    }

    struct ListBudgets: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List project budgets (shot lists: keyfarm credits).")
        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        struct Entry: Encodable { var project: String; var budget: Int64; var spent: Int64; var reserved: Int64; var remaining: Int64 }

        func run() throws {
            try reportingFailures {
                let budgets = try database.openStore(logger: try common.logger()).projectBudgets()
                let entries = budgets.map { Entry(project: $0.project, budget: $0.budget, spent: $0.spent, reserved: $0.reserved,
                                                  remaining: $0.budget - $0.spent - $0.reserved) }
                if json { try printJSON(["projects": entries]); return }
                guard !entries.isEmpty else {
                    Console.current.print("no project budgets; set one with: keyfarm budget set --project NAME CREDITS")
                    return
                }
                var table = TextTable(["PROJECT", "BUDGET", "SPENT", "RESERVED", "REMAINING"], rightAligned: [1, 2, 3, 4])
                for entry in entries {
                    table.add([entry.project, "\(entry.budget)", "\(entry.spent)", "\(entry.reserved)", "\(entry.remaining)"])
                }
                Console.current.write(table.render() + "\n")
            }
        }
    }
}
