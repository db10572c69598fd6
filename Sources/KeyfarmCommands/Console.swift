import Foundation
import Synchronization

/// Where commands write: standard output and error in the binary, buffers in in-process tests.
public final class Console: Sendable {
    private let writeOut: @Sendable (String) -> Void
    private let writeError: @Sendable (String) -> Void
    /// Whether standard output is a terminal, where `keyfarm watch` redraws in place.
    public let isTerminal: Bool

    public init(out: @escaping @Sendable (String) -> Void, error: @escaping @Sendable (String) -> Void,
                isTerminal: Bool = false) {
        writeOut = out
        writeError = error
        self.isTerminal = isTerminal
    }

    /// The process's own standard output and standard error.
    public static let standard = Console(
        out: { text in FileHandle.standardOutput.write(Data(text.utf8)) },
        error: { text in FileHandle.standardError.write(Data(text.utf8)) },
        isTerminal: isatty(STDOUT_FILENO) == 1)

    /// The console commands write to; tests bind their own with `Console.$current.withValue`.
    @TaskLocal public static var current: Console = .standard

    /// Writes one line (a newline is added) to standard output.
    public func print(_ line: String = "") { writeOut(line + "\n") }
    /// Writes raw text to standard output.
    public func write(_ text: String) { writeOut(text) }
    /// Writes one line to standard error.
    public func printError(_ line: String) { writeError(line + "\n") }
    /// Writes raw text to standard error (a progress line redrawn in place).
    public func writeError(_ text: String) { writeError(text) }
}

/// A console that keeps what is written, for tests and for callers that post-process output.
public final class CapturedConsole: Sendable {
    private let buffers = Mutex<(out: String, error: String)>(("", ""))

    public init() {}

    public var console: Console {
        Console(out: { [self] text in self.buffers.withLock { $0.out += text } },
                error: { [self] text in self.buffers.withLock { $0.error += text } })
    }

    public var out: String { buffers.withLock { $0.out } }
    public var error: String { buffers.withLock { $0.error } }
}
