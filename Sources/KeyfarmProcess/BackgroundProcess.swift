import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A long-running program started in the background (a daemon of `keyfarm demo`), its
/// standard output and error appended to a log file, stopped with a signal.
public final class BackgroundProcess: @unchecked Sendable {
    public let name: String
    public let logPath: String
    public let pid: pid_t
    private var status: Int32?

    /// Starts `executable` with `arguments` and exactly `environment`; output goes to `logPath`.
    public init(name: String, executable: String, arguments: [String], environment: [String: String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        switch spawnChild(executable, arguments: arguments, environment: environment, actions: &actions,
                          defaultSignals: [SIGPIPE, SIGINT, SIGTERM]) {
        case .success(let pid): self.pid = pid
        case .failure(let error):
            throw ChildProcessError(description: "cannot start \(name) (\(executable)): \(String(cString: strerror(error.code)))")
        }
    }

    deinit {
        if status == nil { stop(timeout: 0) }
    }

    /// True while the program has not exited.
    public var isRunning: Bool { poll() == nil }

    /// Its exit status once it exited (128 + signal when a signal ended it), else nil.
    public func poll() -> Int32? {
        if let status { return status }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        guard result == pid else { return nil }
        let code = exitStatus(waitStatus: raw)
        status = code
        return code
    }

    /// Sends SIGTERM (a graceful stop), waits up to `timeout` seconds, then SIGKILL.
    /// Returns the exit status.
    @discardableResult
    public func stop(timeout: Double = 10) -> Int32 {
        if let status { return status }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = poll() { return status }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        while true {
            if let status = poll() { return status }
            usleep(5_000)
        }
    }

    /// SIGKILL, as a crash or the OOM killer would: no chance to clean up. Returns the exit status.
    @discardableResult
    public func killHard() -> Int32 {
        if let status { return status }
        kill(pid, SIGKILL)
        while true {
            if let status = poll() { return status }
            usleep(2_000)
        }
    }

    /// The last `count` lines of its log.
    public func logTail(_ count: Int = 15) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isNewline).suffix(count).joined(separator: "\n")
    }
}
