import Foundation
import KeyfarmCommands
import KeyfarmPostgres
import KeyfarmTestSupport

/// The repository's root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

func example(_ name: String) -> String { repositoryRoot + "/examples/" + name }

/// What one run of `keyfarm` printed and returned.
struct Run {
    var status: Int32
    var out: String
    var error: String

    /// The standard output parsed as a JSON object.
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] else {
            throw CocoaError(.coderReadCorrupt)
        }
        return object
    }
}

/// Runs `keyfarm` in-process with captured output and an environment without KEYFARM_DATABASE_URL.
func keyfarm(_ arguments: String..., environment: [String: String] = [:]) -> Run {
    let captured = CapturedConsole()
    var base = ProcessInfo.processInfo.environment
    base.removeValue(forKey: "KEYFARM_DATABASE_URL")
    let status = KeyfarmCLI.run(arguments, console: captured.console, environment: base.merging(environment) { $1 })
    return Run(status: status, out: captured.out, error: captured.error)
}

/// Runs the built binary as a real process, from the repository's root, with a bounded wait.
func runBinary(_ arguments: [String], environment: [String: String], timeout: Duration = .seconds(120)) throws -> Run {
    let outcome = try TestProcess.run(try builtKeyfarm(), arguments, environment: environment,
                                      directory: repositoryRoot, timeout: timeout)
    return Run(status: outcome.timedOut ? -1 : outcome.status, out: outcome.out, error: outcome.error)
}
