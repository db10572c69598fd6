import ArgumentParser
import Foundation
import KeyfarmStore

extension ProvidersCommand {
    /// `keyfarm providers resume PROVIDER`: dispatch a suspended provider's jobs again.
    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume", abstract: "Dispatch a suspended provider's jobs again.",
            discussion: """
                A coordinator suspends a provider account when the provider answers for the whole \
                account (Luma's `budget_exhausted`): its jobs stay queued, their attempts not \
                counted. Once the account is in order (credits added, plan raised), resume it; \
                the waiting jobs go out at the next claim. Exits 66 when the provider is not \
                suspended.
                """)
        @Argument(help: ArgumentHelp("The provider: luma, fal, wavespeed.", valueName: "provider")) var provider: String
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        func run() throws {
            try reportingFailures {
                guard provider.range(of: "^[a-z][a-z0-9_-]{0,63}$", options: .regularExpression) != nil else {
                    throw CommandFailure("provider: \(provider.debugDescription) is not a provider name (lower-case letters, digits, - and _)",
                                         status: ExitStatus.invalidData)
                }
                let store = try database.openStore(logger: try common.logger())
                guard try store.resumeProvider(provider) else {
                    throw CommandFailure("provider \(provider) is not suspended", status: ExitStatus.noInput)
                }
                Console.current.print("\(provider): resumed; its queued jobs are dispatched again")
            }
        }
    }
}
