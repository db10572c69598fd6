import ArgumentParser
import Foundation
import KeyfarmCore

/// `keyfarm`: the operator's command line for the farm.
public struct KeyfarmCommand: ParsableCommand {
    public static let version = KeyfarmVersion.current

    public static let configuration = CommandConfiguration(
        commandName: "keyfarm",
        abstract: "A render farm for keyframe-directed AI video.",
        discussion: """
            Keyfarm turns shot lists (YAML or JSON; see README.md) into per-segment render jobs in \
            PostgreSQL, renders them on worker machines (through a provider's API or by local \
            interpolation), and stitches each shot into one clip.

            The database is --database-url, else $KEYFARM_DATABASE_URL, else an embedded private \
            PostgreSQL cluster under the user's data home that keyfarm creates and starts itself.

            Exit status: 0 success; 1 other failure; 64 usage; 65 invalid data (nothing was changed); \
            66 no such file, shot list, job or worker; 69 database unavailable; 75 `watch` or `smoke --wait` \
            timed out; 78 schema needs `keyfarm migrate`.
            """,
        version: version,
        subcommands: [PlanCommand.self, SubmitCommand.self, StatusCommand.self, OutputsCommand.self, WatchCommand.self,
                      HistoryCommand.self, ApproveCommand.self, RejectCommand.self, RetakeCommand.self, TakesCommand.self,
                      SelectCommand.self, PromoteCommand.self, PruneCommand.self,
                      LogsCommand.self, CancelCommand.self, RetryCommand.self, SmokeCommand.self, BenchCommand.self,
                      WorkersCommand.self, CoordinatorsCommand.self, DrainCommand.self, UndrainCommand.self,
                      PricesCommand.self, CreditsCommand.self, BudgetCommand.self, CoordinatorCommand.self, WorkerCommand.self,
                      MigrateCommand.self, KeysCommand.self, FakeProviderCommand.self, ProvidersCommand.self, InterpolateCommand.self, DemoCommand.self,
                      ChaosCommand.self])

    public init() {}
}

/// Runs `keyfarm` with the given arguments and returns its exit status; the executable and the
/// in-process tests both come through here.
public enum KeyfarmCLI {
    public static func run(_ arguments: [String], console: Console = .standard,
                           environment: [String: String] = ProcessInfo.processInfo.environment) -> Int32 {
        Console.$current.withValue(console) {
            CommandEnvironment.$current.withValue(environment) {
                execute(arguments, console: console)
            }
        }
    }

    private static func execute(_ arguments: [String], console: Console) -> Int32 {
        do {
            var command = try KeyfarmCommand.parseAsRoot(arguments)
            try command.run()
            return ExitStatus.success
        } catch let failure as CommandFailure {
            report(failure, console: console)
            return failure.status
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch {
            // ArgumentParser's own outcomes: usage errors, --help and --version.
            let status = KeyfarmCommand.exitCode(for: error).rawValue
            let message = KeyfarmCommand.fullMessage(for: error)
            if status == 0 {
                if !message.isEmpty { console.print(message) }
            } else {
                console.printError(message)
            }
            return status
        }
    }

    static func report(_ failure: CommandFailure, console: Console) {
        for line in failure.details { console.printError(line) }
        console.printError("keyfarm: error: " + failure.message)
    }
}

/// Runs a command's body, turning whatever it throws into a `CommandFailure` with its exit status.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        throw CommandFailure.from(error)
    }
}

/// The JSON every `--json` output uses: pretty, stable key order, ISO 8601 dates.
func printJSON(_ value: some Encodable) throws {
    Console.current.print(String(decoding: try jsonEncoder().encode(value), as: UTF8.self))
}

/// The encoder behind `printJSON`; not pretty for outputs of one JSON object per line.
func jsonEncoder(pretty: Bool = true) -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return encoder
}

/// The running keyfarm binary (/proc/self/exe), for commands that start keyfarm processes:
/// the demo's and chaos run's daemons, the interpolation bench's timed runs.
func ownExecutable() throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { throw CommandFailure("cannot find this keyfarm executable (/proc/self/exe)", status: ExitStatus.failure) }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
