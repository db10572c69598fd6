import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmStore

/// `keyfarm prices`: the farm's price table.
struct PricesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices",
        abstract: "Show or edit the credits each engine costs per clip length and resolution.",
        discussion: """
            Submits estimate every job from this table. `keyfarm migrate` seeds Keyfarm's default \
            prices (published or third-party figures) without ever replacing an operator's edit. One \
            credit is worth --usd-per-credit dollars (default 0.01). An engine that renders HDR has \
            rows of its own for HDR generations, `<engine>+hdr` and `<engine>+hdr+exr` (with the \
            EXR export): luma/ray-3.2's default to two and three times its SDR blocks.
            """,
        subcommands: [ListPrices.self, SetPrice.self, RemovePrice.self, SetRate.self],
        defaultSubcommand: ListPrices.self)

    struct ListPrices: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the price table.")
        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        struct Document: Encodable {
            var usd_per_credit: Double
            var prices: [Entry]
            struct Entry: Encodable {
                var engine: String, resolution: String, duration_bucket: Int, credits: Int64, usd: Double
                var note: String, source: String, updated_at: Date
            }
        }

        func run() throws {
            try reportingFailures {
                let store = try database.openStore(logger: try common.logger())
                let rate = try store.usdPerCredit()
                let prices = try store.prices()
                if json {
                    try printJSON(Document(usd_per_credit: rate, prices: prices.map {
                        .init(engine: $0.engine, resolution: $0.resolution.rawValue, duration_bucket: $0.durationBucket,
                              credits: $0.credits, usd: (Double($0.credits) * rate * 100).rounded() / 100, note: $0.note,
                              source: $0.source, updated_at: $0.updatedAt)
                    }))
                    return
                }
                var table = TextTable(["ENGINE", "CLIP", "RESOLUTION", "CREDITS", "USD", "SOURCE", "NOTE"], rightAligned: [3, 4])
                for price in prices {
                    table.add([price.engine, "\(price.durationBucket) s", price.resolution.rawValue, "\(price.credits)",
                               String(format: "%.2f", Double(price.credits) * rate), price.source, price.note])
                }
                Console.current.write(table.render() + "\n")
                Console.current.print("1 credit = $\(String(format: "%.4f", rate)); interpolate is free; engines without a row estimate 0 and say so when planned")
            }
        }
    }

    struct SetPrice: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Set the credits one clip of an engine costs.",
            discussion: "Example: keyfarm prices set luma/ray-2 720p 5 71")
        @Argument(help: ArgumentHelp("The engine, as a shot list names it.", valueName: "engine")) var engine: String
        @Argument(help: ArgumentHelp("540p, 720p or 1080p.", valueName: "resolution")) var resolution: String
        @Argument(help: ArgumentHelp("The clip length in seconds (the provider's duration bucket).", valueName: "seconds")) var seconds: Int
        @Argument(help: ArgumentHelp("Credits per clip.", valueName: "credits")) var credits: Int64
        @Option(help: ArgumentHelp("A note shown with the price.", valueName: "text")) var note: String = ""
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        func validate() throws { try validatePriceKey(engine: engine, resolution: resolution, seconds: seconds) }

        func run() throws {
            try reportingFailures {
                guard credits >= 0 && credits <= 10_000_000 else {
                    throw CommandFailure("credits: \(credits) is out of range; allowed: 0..10000000", status: ExitStatus.invalidData)
                }
                let store = try database.openStore(logger: try common.logger())
                try store.setPrice(engine: engine, resolution: Resolution(rawValue: resolution)!, durationBucket: seconds,
                                   credits: credits, note: note)
                Console.current.print("\(engine) \(seconds) s at \(resolution) now costs \(credits) credits")
            }
        }
    }

    struct RemovePrice: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove one price (its jobs then estimate 0).")
        @Argument(help: ArgumentHelp("The engine.", valueName: "engine")) var engine: String
        @Argument(help: ArgumentHelp("540p, 720p or 1080p.", valueName: "resolution")) var resolution: String
        @Argument(help: ArgumentHelp("The clip length in seconds.", valueName: "seconds")) var seconds: Int
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        func validate() throws { try validatePriceKey(engine: engine, resolution: resolution, seconds: seconds) }

        func run() throws {
            try reportingFailures {
                let store = try database.openStore(logger: try common.logger())
                guard try store.removePrice(engine: engine, resolution: Resolution(rawValue: resolution)!, durationBucket: seconds) else {
                    throw CommandFailure("no price for \(engine) \(seconds) s at \(resolution)", status: ExitStatus.noInput)
                }
                Console.current.print("removed the price of \(engine) \(seconds) s at \(resolution)")
            }
        }
    }

    struct SetRate: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rate", abstract: "Set what one credit is worth in US dollars.")
        @Argument(help: ArgumentHelp("Dollars per credit, e.g. 0.01.", valueName: "usd")) var usd: Double
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        func validate() throws {
            guard usd >= 0, usd <= 1000 else { throw ValidationError("usd: \(usd) is out of range; allowed: 0..1000") }
        }

        func run() throws {
            try reportingFailures {
                try database.openStore(logger: try common.logger()).setUSDPerCredit(usd)
                Console.current.print("1 credit = $\(usd)")
            }
        }
    }
}

private func validatePriceKey(engine: String, resolution: String, seconds: Int) throws {
    guard let (name, tier) = PriceTable.Tier.split(engine), let parsed = Engine(name: name), parsed != .interpolate else {
        throw ValidationError("engine: \"\(engine)\" is not a priced engine (known: \(Engine.knownNames.dropFirst().joined(separator: ", ")); "
                              + "HDR prices are <engine>+hdr and <engine>+hdr+exr)")
    }
    guard tier == .sdr || parsed.rendersHDR else {
        throw ValidationError("engine: \(name) cannot render HDR, so \"\(engine)\" has no price (HDR engines: \(Engine.hdrNames.joined(separator: ", ")))")
    }
    guard Resolution(rawValue: resolution) != nil else {
        throw ValidationError("resolution: \"\(resolution)\" is not one of 540p, 720p, 1080p")
    }
    guard (1...60).contains(seconds) else { throw ValidationError("seconds: \(seconds) is out of range; allowed: 1..60") }
}

/// `keyfarm credits`: what the farm spent.
struct CreditsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credits",
        abstract: "Report credits spent (charges minus refunds, from the ledger) against estimates and budgets.",
        discussion: """
            --by tier separates what drafts cost (shots rendered with draft: true or submit --draft, \
            at their engines' draft tiers) from what finals cost.
            """)

    @Option(help: ArgumentHelp("Group by provider, shot-list, day or tier (draft against final).", valueName: "grouping"))
    var by: String = "shot-list"
    @Flag(help: "Print JSON instead of a table.") var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard CreditGrouping(rawValue: by) != nil else {
            throw ValidationError("--by: \"\(by)\" is not one of provider, shot-list, day, tier")
        }
    }

    struct Document: Encodable {
        var by: String
        var usd_per_credit: Double
        var rows: [Row]
        var total: Row
        struct Row: Encodable {
            var key: String, charged: Int64, refunded: Int64, net: Int64, reserved: Int64, estimated: Int64, budget: Int64?,
                remaining: Int64?, usd: Double
            /// Possibly spent: creates whose answer was lost where the API cannot list what they made.
            var ambiguous: Int64
        }
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let rate = try store.usdPerCredit()
            let summaries = try store.creditSummary(by: CreditGrouping(rawValue: by)!)
            func row(_ s: CreditSummary) -> Document.Row {
                .init(key: s.key, charged: s.charged, refunded: s.refunded, net: s.net, reserved: s.reserved, estimated: s.estimated,
                      budget: s.budget, remaining: s.budget.map { $0 - s.net - s.reserved - s.ambiguous },
                      usd: (Double(s.net) * rate * 100).rounded() / 100, ambiguous: s.ambiguous)
            }
            var total = CreditSummary(key: "total", charged: summaries.reduce(0) { $0 + $1.charged },
                                      refunded: summaries.reduce(0) { $0 + $1.refunded }, net: summaries.reduce(0) { $0 + $1.net },
                                      estimated: summaries.reduce(0) { $0 + $1.estimated }, budget: nil,
                                      reserved: summaries.reduce(0) { $0 + $1.reserved })
            total.ambiguous = summaries.reduce(0) { $0 + $1.ambiguous }
            if json {
                try printJSON(Document(by: by, usd_per_credit: rate, rows: summaries.map(row), total: row(total)))
                return
            }
            let ambiguous = total.ambiguous > 0
            var table = TextTable([by.uppercased(), "CHARGED", "REFUNDED", "NET", "USD", "RESERVED", "ESTIMATED", "BUDGET", "REMAINING"]
                                    + (ambiguous ? ["AMBIGUOUS"] : []),
                                  rightAligned: [1, 2, 3, 4, 5, 6, 7, 8, 9])
            for s in summaries + [total] {
                let r = row(s)
                table.add([r.key, "\(r.charged)", "\(r.refunded)", "\(r.net)", String(format: "%.2f", r.usd), "\(r.reserved)", "\(r.estimated)",
                           r.budget.map(String.init) ?? "-", r.remaining.map(String.init) ?? "-"] + (ambiguous ? ["\(r.ambiguous)"] : []))
            }
            Console.current.write(table.render() + "\n")
            if ambiguous {
                Console.current.print("AMBIGUOUS: credits possibly spent by creates whose answer was lost, on APIs that cannot list what they made (see keyfarm logs of those attempts); they count against budgets")
            }
        }
    }
}
