/// One thing wrong with a shot list: where (file, field path, line) and what is allowed.
public struct ShotListIssue: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// The path to the field, e.g. `shots[2].keyframes[5].at`; empty for the whole document.
    public var path: String
    public var message: String
    public var line: Int?
    public var column: Int?

    public init(file: String, path: String, message: String, line: Int? = nil, column: Int? = nil) {
        self.file = file
        self.path = path
        self.message = message
        self.line = line
        self.column = column
    }

    /// `demo.yaml: shots[1].duration: 24 s, at most 20 s (line 9, column 15)`.
    public var description: String {
        var text = file + ": "
        if !path.isEmpty { text += path + ": " }
        if path.isEmpty, let line {
            text += "line \(line), column \(column ?? 0): " + message
        } else {
            text += message
            if let line { text += " (line \(line), column \(column ?? 0))" }
        }
        return text
    }
}

/// The whole list of problems found in one shot list; thrown so callers see every error at once.
public struct ShotListInvalid: Error, Sendable, CustomStringConvertible {
    public var issues: [ShotListIssue]
    public init(issues: [ShotListIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// What a file looks like from its first bytes; the decoder asks for this instead of reading files.
public enum ImageFileKind: Sendable, Equatable {
    case png
    case exr
    case missing
    case directory
    case unreadable(reason: String)
    /// Neither PNG nor EXR; `detail` says what the header looks like.
    case unsupported(detail: String)
}

/// Looks at image files on behalf of the pure decoder (the CLI gives it one that reads the disk).
public protocol ImageInspecting: Sendable {
    func inspect(path: String) -> ImageFileKind
}
