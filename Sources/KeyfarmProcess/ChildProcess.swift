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
        var template = Array("/tmp/keyfarm-child.XXXXXX".utf8CString)
        let output = mkstemp(&template)
        guard output >= 0 else { throw failure("cannot create a temporary file") }
        _ = fcntl(output, F_SETFD, FD_CLOEXEC)  // other children must not inherit it; ours gets it as stdout and stderr
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        defer { close(output) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        // Nothing else this process has open (sockets above all) leaks into the child.
        closeInheritedDescriptors(&actions)

        // Start the child with no blocked signals and default SIGPIPE, whatever this process set up.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var signals = sigset_t()
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        sigaddset(&signals, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        // posix_spawnp: a bare name ("ffmpeg") is looked up on this process's PATH; a path is used as it is.
        let spawned = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw failure("cannot start it", spawned) }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw failure("cannot wait for it") }
        }
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)

        var data = Data()
        lseek(output, 0, SEEK_SET)
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = read(output, &buffer, buffer.count)
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return Outcome(status: exitStatus, output: String(decoding: data, as: UTF8.self))
    }
}

/// Why a child process could not be started or waited for.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(description: String) { self.description = description }
}
