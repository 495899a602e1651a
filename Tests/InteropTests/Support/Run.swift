import Foundation
import TestSupport

/// What one finished (or timed-out) command did.
struct RunResult: CustomStringConvertible {
    let commandLine: String
    /// Nil when the command ran past its timeout and was killed.
    let termination: Termination?
    let standardOutput: String
    let standardError: String

    var succeeded: Bool { termination == .exit(0) }
    var exitStatus: Int32? {
        if case let .exit(status) = termination { return status }
        return nil
    }

    /// The command, how it ended and what it printed: enough to debug a failure.
    var description: String {
        let ended = termination.map(\.description) ?? "timed out and was killed"
        return """
            $ \(commandLine)
            \(ended)
            --- stdout ---
            \(standardOutput.suffix(4000))
            --- stderr ---
            \(standardError.suffix(4000))
            """
    }
}

/// Runs `tool` (a name found by ``Tool/path(_:)``, or an absolute path) to
/// completion, at most `timeout`, capturing its output into `directory`.
func run(
    _ tool: String, _ arguments: [String], in directory: TemporaryDirectory,
    timeout: Duration = .seconds(300), environment: [String: String]? = nil
) async throws -> RunResult {
    let executable = tool.hasPrefix("/") ? tool : try Tool.path(tool)
    let name = (executable as NSString).lastPathComponent
    let child = try ChildProcess(
        executable, arguments, outputPrefix: directory.unique(name), environment: environment,
        currentDirectory: directory.path)
    var termination = await child.waitForTermination(timeout: timeout)
    if termination == nil {
        child.send(SIGKILL)
        _ = await child.waitForTermination(timeout: .seconds(120))
        termination = nil
    }
    return RunResult(
        commandLine: child.commandLine, termination: termination,
        standardOutput: child.standardOutput, standardError: child.standardError)
}

/// Runs a command that must succeed; throws with its output otherwise.
@discardableResult
func runChecked(
    _ tool: String, _ arguments: [String], in directory: TemporaryDirectory,
    timeout: Duration = .seconds(300), environment: [String: String]? = nil
) async throws -> RunResult {
    let result = try await run(tool, arguments, in: directory, timeout: timeout, environment: environment)
    guard result.succeeded else { throw InteropError("a command failed:\n\(result)") }
    return result
}
