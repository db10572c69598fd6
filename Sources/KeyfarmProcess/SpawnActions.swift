#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes a spawned child close every descriptor from 3 up, so that nothing this process has
/// open (a socket above all, whose copy in a child would keep a connection open after we
/// close it) leaks into it. glibc 2.34+ has `posix_spawn_file_actions_addclosefrom_np`, which
/// Swift's Glibc module does not import, so it is looked up at run time; without it the
/// child inherits descriptors as before.
public func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = addCloseFrom else { return }
    let function = unsafeBitCast(symbol, to: AddCloseFrom.self)
    _ = withUnsafeMutablePointer(to: &actions) { function($0, 3) }
}

private nonisolated(unsafe) let addCloseFrom: UnsafeMutableRawPointer? = {
    #if canImport(Glibc)
    return dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
    #else
    return nil
    #endif
}()

/// Starts `executable` (looked up on PATH when it has no slash) with posix_spawnp once
/// `actions` has set up descriptors 0 to 2: every other descriptor is closed in the child, no
/// signal is blocked, and `defaultSignals` get their default handlers, whatever this process
/// set up. Returns the child's pid, or the error number.
func spawnChild(_ executable: String, arguments: [String], environment: [String: String],
                actions: inout posix_spawn_file_actions_t, defaultSignals: [Int32] = [SIGPIPE]) -> Result<pid_t, SystemErrorNumber> {
    closeInheritedDescriptors(&actions)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var signals = sigset_t()
    sigemptyset(&signals)
    posix_spawnattr_setsigmask(&attributes, &signals)
    for signal in defaultSignals { sigaddset(&signals, signal) }
    posix_spawnattr_setsigdefault(&attributes, &signals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid = pid_t()
    let spawned = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
    return spawned == 0 ? .success(pid) : .failure(SystemErrorNumber(code: spawned))
}

/// A waitpid status as an exit status: the child's code, or 128 + the signal that ended it.
func exitStatus(waitStatus status: Int32) -> Int32 {
    (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// Waits for a child to exit (through EINTR) and returns its exit status, or the error number.
func waitForExit(_ pid: pid_t) -> Result<Int32, SystemErrorNumber> {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { return .failure(SystemErrorNumber(code: errno)) }
    }
    return .success(exitStatus(waitStatus: status))
}

/// A temporary file, already unlinked and closed on exec, for a child's output; -1 on failure.
func unlinkedTemporaryFile(prefix: String) -> Int32 {
    var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
    let descriptor = mkstemp(&template)
    guard descriptor >= 0 else { return -1 }
    _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)  // other children must not inherit it
    template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    return descriptor
}

/// Everything in a file descriptor's file, from its start.
func readFromStart(_ descriptor: Int32) -> String {
    var data = [UInt8]()
    lseek(descriptor, 0, SEEK_SET)
    var buffer = [UInt8](repeating: 0, count: 16_384)
    while true {
        let count = read(descriptor, &buffer, buffer.count)
        if count <= 0 { break }
        data.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: data, as: UTF8.self)
}

/// An errno value as an error, for the spawn helpers' results.
struct SystemErrorNumber: Error {
    let code: Int32
}
