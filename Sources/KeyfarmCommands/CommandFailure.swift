import KeyfarmCore
import KeyfarmHarness
import KeyfarmPostgres
import KeyfarmStore

/// The exit statuses `keyfarm` uses (sysexits.h values where one fits).
public enum ExitStatus {
    public static let success: Int32 = 0
    public static let failure: Int32 = 1
    public static let usage: Int32 = 64
    /// The input (a shot list, an image, a value) is invalid; nothing was changed.
    public static let invalidData: Int32 = 65
    /// A named input does not exist: a file, or a shot list in the database.
    public static let noInput: Int32 = 66
    /// The database cannot be reached or the embedded cluster cannot start.
    public static let unavailable: Int32 = 69
    /// The database schema does not match this keyfarm (run `keyfarm migrate`).
    public static let configuration: Int32 = 78
}

/// An error a command reports as one message and an exit status.
public struct CommandFailure: Error, CustomStringConvertible {
    public var message: String
    public var status: Int32
    /// Lines already written to standard error before the summary (shot-list issues).
    public var details: [String]

    public init(_ message: String, status: Int32, details: [String] = []) {
        self.message = message
        self.status = status
        self.details = details
    }

    public var description: String { message }

    /// Classifies any error a command meets into a message and an exit status.
    static func from(_ error: any Error) -> CommandFailure {
        switch error {
        case let failure as CommandFailure:
            return failure
        case let harness as HarnessFailure:
            return CommandFailure(harness.message, status: harness.status)
        case let invalid as ShotListInvalid:
            let count = invalid.issues.count
            return CommandFailure("\(invalid.issues.first?.file ?? "shot list"): \(count) error\(count == 1 ? "" : "s"); nothing was changed",
                                  status: ExitStatus.invalidData, details: invalid.issues.map(\.description))
        case let store as StoreError:
            switch store {
            case .notStitched, .takeRefused: return CommandFailure(store.description, status: ExitStatus.failure)
            case .noSuchShotList, .noSuchJob, .noSuchShot, .noSuchSegment, .noSuchTake: return CommandFailure(store.description, status: ExitStatus.noInput)
            case .ambiguousShotList: return CommandFailure(store.description, status: ExitStatus.usage)
            case .shotListExists: return CommandFailure(store.description, status: ExitStatus.invalidData)
            case .schemaBehind, .schemaAhead, .migrationChanged:
                return CommandFailure(store.description, status: ExitStatus.configuration)
            }
        case let postgres as PostgresError:
            // Class 08 is a connection exception; no SQLSTATE means libpq could not connect at all.
            let unreachable = postgres.sqlState == nil || postgres.sqlState?.hasPrefix("08") == true
                || postgres.sqlState == "57P03" || postgres.sqlState == "3D000" || postgres.sqlState == "28000"
                || postgres.sqlState == "28P01"
            return CommandFailure(postgres.description, status: unreachable ? ExitStatus.unavailable : ExitStatus.failure)
        default:
            return CommandFailure("\(error)", status: ExitStatus.failure)
        }
    }
}
