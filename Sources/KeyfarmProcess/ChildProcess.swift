import Foundation

/// Runs a program to completion and captures what it printed (initdb, pg_ctl, ffmpeg, ffprobe).
///
/// Uses posix_spawn and waitpid rather than Foundation's `Process`: on Linux, `Process` learns that a
/// child exited from a Dispatch source, which never runs when every worker thread is blocked (tests
/// calling blocking code in parallel on a two-core machine), so `waitUntilExit` could hang forever.
/// Output goes to a temporary file, not a pipe: a child that leaves a process running would
/// keep a pipe open, and a read to its end would wait as long as that process lives.
public struct ChildProcess: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]

    public init(executable: String, arguments: [String], environment: [String: String]) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }

    /// The exit status and the combined stdout and stderr of one run.
    public struct Outcome: Sendable {
        public var status: Int32
        public var output: String

        /// The last `count` non-empty lines of the output, for error messages.
        public func tail(_ count: Int = 20) -> String {
            output.split(whereSeparator: \.isNewline).suffix(count).joined(separator: "\n")
        }
    }

    /// Starts the program, waits for it to exit, and returns its status and output.
    public func run() throws -> Outcome {
        let context = "running \(executable)"
        func failure(_ what: String, _ code: Int32 = errno) -> ChildProcessError {
            ChildProcessError(description: "\(context): \(what): \(String(cString: strerror(code)))")
        }
        let output = unlinkedTemporaryFile(prefix: "keyfarm-child")
        guard output >= 0 else { throw failure("cannot create a temporary file") }
        defer { close(output) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        let pid: pid_t
        switch spawnChild(executable, arguments: arguments, environment: environment, actions: &actions) {
        case .success(let child): pid = child
        case .failure(let error): throw failure("cannot start it", error.code)
        }
        let status: Int32
        switch waitForExit(pid) {
        case .success(let code): status = code
        case .failure(let error): throw failure("cannot wait for it", error.code)
        }
        return Outcome(status: status, output: readFromStart(output))
    }
}

/// Why a child process could not be started or waited for.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(description: String) { self.description = description }
}
