import ArgumentParser
import Foundation
import KeyfarmStore

/// `keyfarm providers`: each provider account's limits and failed-generation policy.
struct ProvidersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "providers",
        abstract: "Show or edit each provider account's limits and what a failed generation costs.",
        discussion: """
            The coordinator never has more of a provider's generations in flight than \
            --max-concurrent, nor starts more than --creates-per-minute in any minute; jobs over a \
            limit wait queued while other providers' jobs go ahead. Defaults follow the providers' \
            published terms: Luma's Build tier (10 concurrent, 20 creates a minute; failed \
            generations refunded), fal (no limits; failed requests not billed), WaveSpeed (no limits; \
            failures refunded). A failed generation is booked by the policy: `refunded` books a \
            charge and its refund, `charged` books the charge, `free` books nothing. A provider \
            that answers for the whole account (Luma's `budget_exhausted`) is suspended: none of \
            its jobs is dispatched, `list` says why, and `keyfarm providers resume PROVIDER` \
            sends them again once the account is in order.
            """,
        subcommands: [List.self, Set.self, Resume.self, ProvidersModelCommand.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the provider accounts and their use now.")
        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        struct Entry: Encodable {
            var provider: String
            var max_concurrent: Int?
            var creates_per_minute: Int?
            var failed_generations: String
            var in_flight: Int
            var started_last_minute: Int
            var updated_at: Date
            var suspended_at: Date?
            var suspended_reason: String?

            enum CodingKeys: String, CodingKey {
                case provider, max_concurrent, creates_per_minute, failed_generations, in_flight, started_last_minute, updated_at
                case suspended_at, suspended_reason
            }

            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(provider, forKey: .provider)
                try c.encode(max_concurrent, forKey: .max_concurrent)  // null: no limit
                try c.encode(creates_per_minute, forKey: .creates_per_minute)
                try c.encode(failed_generations, forKey: .failed_generations)
                try c.encode(in_flight, forKey: .in_flight)
                try c.encode(started_last_minute, forKey: .started_last_minute)
                try c.encode(updated_at, forKey: .updated_at)
                try c.encode(suspended_at, forKey: .suspended_at)  // null: dispatching
                try c.encode(suspended_reason, forKey: .suspended_reason)
            }
        }

        func run() throws {
            try reportingFailures {
                let store = try database.openStore(logger: try common.logger())
                let accounts = try store.providerAccounts()
                if json {
                    try printJSON(accounts.map {
                        Entry(provider: $0.provider, max_concurrent: $0.maxConcurrent, creates_per_minute: $0.createsPerMinute,
                              failed_generations: $0.failedGenerations, in_flight: $0.inFlight,
                              started_last_minute: $0.startedLastMinute, updated_at: $0.updatedAt,
                              suspended_at: $0.suspendedAt, suspended_reason: $0.suspendedReason)
                    })
                    return
                }
                var table = TextTable(["PROVIDER", "IN FLIGHT", "STARTED/MIN", "FAILED GENERATIONS", "DISPATCHING"],
                                      rightAligned: [1, 2])
                for account in accounts {
                    table.add([account.provider,
                               "\(account.inFlight)/\(account.maxConcurrent.map(String.init) ?? "-")",
                               "\(account.startedLastMinute)/\(account.createsPerMinute.map(String.init) ?? "-")",
                               account.failedGenerations, account.suspendedAt == nil ? "yes" : "SUSPENDED"])
                }
                Console.current.write(table.render() + "\n")
                for account in accounts {
                    guard let since = account.suspendedAt else { continue }
                    Console.current.print("\(account.provider) suspended since \(ISO8601DateFormatter().string(from: since)): "
                                          + "\(account.suspendedReason ?? "no reason given"); "
                                          + "its jobs wait. Resume with: keyfarm providers resume \(account.provider)")
                }
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Change a provider account (created if new).",
            discussion: "Example: keyfarm providers set luma --max-concurrent 20 --creates-per-minute 40")
        @Argument(help: ArgumentHelp("The provider: luma, fal, wavespeed.", valueName: "provider")) var provider: String
        @Option(name: .customLong("max-concurrent"), help: ArgumentHelp(
            "Generations in flight at once, or `none`.", valueName: "count")) var maxConcurrent: String?
        @Option(name: .customLong("creates-per-minute"), help: ArgumentHelp(
            "Generations started in any minute, or `none`.", valueName: "count")) var createsPerMinute: String?
        @Option(name: .customLong("failed-generations"), help: ArgumentHelp(
            "What a failed generation costs: refunded, charged or free.", valueName: "policy")) var failedGenerations: String?
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        /// `none` removes a limit; otherwise a count from 1 to 100000.
        static func limit(_ text: String?, flag: String) throws -> Int?? {
            guard let text else { return nil }
            if text == "none" { return .some(nil) }
            guard let value = Int(text), (1...100_000).contains(value) else {
                throw CommandFailure("\(flag): \(text.debugDescription) is not a count from 1 to 100000 or `none`",
                                     status: ExitStatus.invalidData)
            }
            return .some(value)
        }

        func run() throws {
            try reportingFailures {
                guard provider.range(of: "^[a-z][a-z0-9_-]{0,63}$", options: .regularExpression) != nil else {
                    throw CommandFailure("provider: \(provider.debugDescription) is not a provider name (lower-case letters, digits, - and _)",
                                         status: ExitStatus.invalidData)
                }
                if let failedGenerations, !FarmStore.failedGenerationPolicies.contains(failedGenerations) {
                    throw CommandFailure("--failed-generations: \(failedGenerations.debugDescription) is not one of refunded, charged, free",
                                         status: ExitStatus.invalidData)
                }
                let change = FarmStore.ProviderAccountChange(
                    maxConcurrent: try Self.limit(maxConcurrent, flag: "--max-concurrent"),
                    createsPerMinute: try Self.limit(createsPerMinute, flag: "--creates-per-minute"),
                    failedGenerations: failedGenerations)
                guard change.maxConcurrent != nil || change.createsPerMinute != nil || change.failedGenerations != nil else {
                    throw CommandFailure("nothing to change: give --max-concurrent, --creates-per-minute or --failed-generations",
                                         status: ExitStatus.usage)
                }
                let store = try database.openStore(logger: try common.logger())
                try store.setProviderAccount(provider, change)
                guard let account = try store.providerAccounts().first(where: { $0.provider == provider }) else { return }
                Console.current.print("\(provider): at most \(account.maxConcurrent.map(String.init) ?? "unlimited") in flight, "
                                      + "\(account.createsPerMinute.map(String.init) ?? "unlimited") creates a minute, "
                                      + "failed generations \(account.failedGenerations)")
            }
        }
    }
}
