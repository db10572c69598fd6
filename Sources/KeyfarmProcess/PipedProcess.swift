import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A program run with a pipe to its standard input or from its standard output, for streaming
/// raw frames to an encoder (`ffmpeg -i pipe:0`) or from a decoder (`ffmpeg ... pipe:1`).
///
/// Its standard error goes to a temporary file, read when it finishes, so a chatty child can
/// never block on a full pipe nobody reads. Like `ChildProcess` it is started with
/// posix_spawn and reaped with waitpid, and it inherits no descriptor but its three.
/// SIGPIPE is ignored in this process once one is started, so a write to a child that died
/// fails with EPIPE instead of killing the writer.
public final class PipedProcess: @unchecked Sendable {
    /// Which end of the child the pipe is attached to.
    public enum Stream: Sendable {
        /// We write the child's standard input; its standard output is discarded.
        case input
        /// We read the child's standard output; its standard input is /dev/null.
        case output
    }

    public let executable: String
    public let stream: Stream
    private let pid: pid_t
    private var pipe: Int32
    private let errors: Int32
    private var exit: Int32?

    /// Starts `executable` (looked up on PATH when it has no slash).
    public init(executable: String, arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                stream: Stream) throws {
        self.executable = executable
        self.stream = stream
        let context = "running \(executable)"
        func failure(_ what: String, _ code: Int32 = errno) -> ChildProcessError {
            ChildProcessError(description: "\(context): \(what): \(String(cString: strerror(code)))")
        }
        signal(SIGPIPE, SIG_IGN)
        let errors = unlinkedTemporaryFile(prefix: "keyfarm-pipe")
        guard errors >= 0 else { throw failure("cannot create a temporary file") }
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else { close(errors); throw failure("cannot create a pipe") }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        // A bigger pipe buffer lets whole rows of a frame go across per system call.
        _ = fcntl(ends[1], 1031 /* F_SETPIPE_SZ, Linux */, 1 << 20)
        let (childEnd, ourEnd) = stream == .input ? (ends[0], ends[1]) : (ends[1], ends[0])

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        switch stream {
        case .input:
            posix_spawn_file_actions_adddup2(&actions, childEnd, 0)
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        case .output:
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, childEnd, 1)
        }
        posix_spawn_file_actions_adddup2(&actions, errors, 2)
        let spawned = spawnChild(executable, arguments: arguments, environment: environment, actions: &actions)
        close(childEnd)
        switch spawned {
        case .success(let pid): self.pid = pid
        case .failure(let error):
            close(ourEnd)
            close(errors)
            throw failure("cannot start it", error.code)
        }
        self.pipe = ourEnd
        self.errors = errors
    }

    deinit {
        if exit == nil {
            kill(pid, SIGKILL)
            _ = try? wait()
        }
        if pipe >= 0 { close(pipe) }
        close(errors)
    }

    /// Writes every byte to the child's standard input; throws if the child stopped reading.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(stream == .input, "write needs a pipe to standard input")
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(pipe, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw ChildProcessError(description: "\(executable) stopped reading its input: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Fills `buffer` from the child's standard output. Returns the bytes read: the buffer's
    /// size, or fewer only when the output ended.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        precondition(stream == .output, "read needs a pipe from standard output")
        var offset = 0
        while offset < buffer.count {
            let count = Glibc.read(pipe, buffer.baseAddress! + offset, buffer.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw ChildProcessError(description: "reading from \(executable): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            offset += count
        }
        return offset
    }

    /// Closes our end of the pipe (an encoder sees the end of its input), waits for the child
    /// and returns its exit status and what it wrote to standard error.
    @discardableResult
    public func finish() throws -> ChildProcess.Outcome {
        if pipe >= 0 { close(pipe); pipe = -1 }
        let status = try wait()
        return ChildProcess.Outcome(status: status, output: readFromStart(errors))
    }

    /// Kills the child at once (a cancelled or failed run) and reaps it.
    public func terminate() {
        guard exit == nil else { return }
        kill(pid, SIGKILL)
        if pipe >= 0 { close(pipe); pipe = -1 }
        _ = try? wait()
    }

    private func wait() throws -> Int32 {
        if let exit { return exit }
        switch waitForExit(pid) {
        case .success(let code):
            exit = code
            return code
        case .failure(let error):
            throw ChildProcessError(description: "waiting for \(executable): \(String(cString: strerror(error.code)))")
        }
    }
}
