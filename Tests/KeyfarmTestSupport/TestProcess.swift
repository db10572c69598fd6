import Foundation
import KeyfarmProcess

/// Runs a program as a real child process for tests: posix_spawn with its output in temporary
/// files (a daemon it starts cannot hold a pipe open), and a bounded wait that ends in SIGKILL.
/// Foundation's `Process` is avoided: on Linux it learns of a child's exit through Dispatch,
/// which can starve while parallel tests hold every worker thread.
public enum TestProcess {
    public struct Outcome: Sendable {
        public var status: Int32
        public var out: String
        public var error: String
        public var timedOut: Bool
    }

    public static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                           directory: String? = nil, timeout: Duration = .seconds(120)) throws -> Outcome {
        let outFile = try temporaryFile(), errorFile = try temporaryFile()
        defer { close(outFile); close(errorFile) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outFile, 1)
        posix_spawn_file_actions_adddup2(&actions, errorFile, 2)
        // Nothing else this process has open (sockets above all) leaks into the child.
        closeInheritedDescriptors(&actions)

        // posix_spawn has no portable chdir: run through /bin/sh -c 'cd DIR && exec "$@"'.
        var argv = [executable] + arguments
        var path = executable
        if let directory {
            path = "/bin/sh"
            argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory, executable] + arguments
        }
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArguments + cEnvironment).forEach { free($0) } }

        let attributes = SpawnAttributes()
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, &attributes.value, cArguments, cEnvironment)
        guard spawned == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "cannot run \(executable): \(String(cString: strerror(spawned)))"])
        }
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        var timedOut = false
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited < 0 && errno != EINTR { break }
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                timedOut = true
                _ = waitpid(pid, &status, 0)
                break
            }
            usleep(10_000)
        }
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Outcome(status: exitStatus, out: contents(outFile), error: contents(errorFile), timedOut: timedOut)
    }

    private static func temporaryFile() throws -> Int32 {
        var template = Array("/tmp/kf-test-output-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        unlink(String(cString: template))
        return fd
    }

    private static func contents(_ fd: Int32) -> String {
        lseek(fd, 0, SEEK_SET)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: data, as: UTF8.self)
    }
}
