import Foundation
import KeyfarmProcess

/// A long-running child process for fault tests (a coordinator, a worker): started with
/// posix_spawn, its output in a file the test can read while it runs, killed for real.
public final class TestDaemon: @unchecked Sendable {
    public let pid: pid_t
    public let logPath: String
    private var exitStatus: Int32?

    public init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        logPath = "/tmp/kf-daemon-\(UUID().uuidString.prefix(8)).log"
        let fd = open(logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        // Nothing else this process has open (sockets above all) leaks into the child.
        closeInheritedDescriptors(&actions)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let attributes = SpawnAttributes()
        var child: pid_t = 0
        let spawned = posix_spawn(&child, executable, &actions, &attributes.value, argv, envp)
        guard spawned == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "cannot run \(executable): \(String(cString: strerror(spawned)))"])
        }
        pid = child
    }

    deinit {
        if exitStatus == nil { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
        unlink(logPath)
    }

    /// What it printed so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    public func signal(_ number: Int32) { kill(pid, number) }

    /// Waits for the process to exit (up to `timeout`); its exit status, or nil if it still runs.
    @discardableResult
    public func wait(timeout: Duration) -> Int32? {
        if let exitStatus { return exitStatus }
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid {
                let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                exitStatus = code
                return code
            }
            usleep(10_000)
        }
        return nil
    }

    /// SIGKILL, then reap.
    public func killHard() {
        kill(pid, SIGKILL)
        wait(timeout: .seconds(10))
    }

    public var isRunning: Bool { wait(timeout: .zero) == nil }
}

/// Waits until `condition` holds, checking every 50 ms, for at most `timeout`; false on timeout.
public func eventually(timeout: Duration = .seconds(30), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
public func freeLoopbackPort() -> Int {
    // Fails only when the machine is out of ports or sockets.
    (try? LoopbackPort.unused()) ?? 0
}

/// Spawn attributes that start a child with no blocked signals and default handlers, whatever
/// the test runner's threads blocked or ignored (a child inherits both through posix_spawn).
final class SpawnAttributes {
    var value = posix_spawnattr_t()

    init() {
        posix_spawnattr_init(&value)
        var signals = sigset_t()
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&value, &signals)
        for number in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGCHLD] { sigaddset(&signals, number) }
        posix_spawnattr_setsigdefault(&value, &signals)
        posix_spawnattr_setflags(&value, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    }

    deinit { posix_spawnattr_destroy(&value) }
}

/// The built `keyfarm` executable, found next to the test bundle (or under .build/debug).
public func builtKeyfarm() throws -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("keyfarm").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    let fallback = root + "/.build/debug/keyfarm"
    guard FileManager.default.isExecutableFile(atPath: fallback) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: fallback])
    }
    return fallback
}

/// Runs a blocking test body on a thread of its own. Swift Testing runs tests on the small
/// cooperative pool that async code (such as an in-process HTTP server in another test) needs;
/// a test that waits seconds for real processes must not hold one of its threads meanwhile.
/// The body stays in the test's task (a task executor preference, not a detached thread), so
/// what it records is reported against the test that recorded it.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withTaskExecutorPreference(ThreadPerJobExecutor()) {
        try await runHere(body)
    }
}

/// Runs `body` on whichever executor the calling task prefers (nonisolated async).
private func runHere<T: Sendable>(_ body: @Sendable () throws -> T) async throws -> T {
    try body()
}

/// A task executor that runs every job it is given on a new thread, so a job may block.
private final class ThreadPerJobExecutor: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        Thread.detachNewThread { Thread.current.name = "offPool"; job.runSynchronously(on: executor) }
    }
}
