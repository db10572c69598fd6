/// Why a local farm (the demo's, the chaos run's) or a shot list file could not be used, with
/// the exit status the command that ran it ends with.
public struct HarnessFailure: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var status: Int32

    public init(_ message: String, status: Int32) {
        self.message = message
        self.status = status
    }

    public var description: String { message }

    /// Exit statuses, as `keyfarm` documents them: something else failed; invalid data
    /// (nothing was changed); no such file.
    public static let failure: Int32 = 1
    public static let invalidData: Int32 = 65
    public static let noInput: Int32 = 66
}
