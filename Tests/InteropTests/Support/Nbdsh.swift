import Foundation

/// Runs Python scripts under nbdsh (python3-libnbd). Scripts print one
/// `name=value` line per observation through `report` and `step` (defined in
/// ``prelude``); the Swift test holds the expectations.
enum Nbdsh {
    /// Helpers every script gets: `report(name, value)`; `outcome(fn)`, which
    /// is "ok", "ok <sha256 prefix>" for data, or the errno name of an NBD
    /// error; `step(name, fn)`, which reports the outcome.
    static let prelude = """
        import errno as _errno, hashlib as _hashlib
        def report(name, value):
            print(f"{name}={value}", flush=True)
        def digest(data):
            return _hashlib.sha256(bytes(data)).hexdigest()[:16]
        def outcome(fn):
            try:
                result = fn()
            except nbd.Error as e:
                return _errno.errorcode.get(e.errno, str(e.errno))
            if isinstance(result, (bytes, bytearray)):
                return "ok " + digest(result)
            return "ok"
        def step(name, fn):
            report(name, outcome(fn))
        """

    /// Runs `script` with the handle `h` connected to `uri` (with
    /// `base:allocation` requested), after assigning each of `variables` as a
    /// Python string. Throws unless nbdsh exits 0.
    static func run(
        _ script: String, uri: String?, variables: [String: String] = [:],
        in directory: TemporaryDirectory, timeout: Duration = .seconds(300)
    ) async throws -> ScriptReport {
        var arguments = ["--base-allocation"]
        if let uri { arguments += ["-u", uri] } else { arguments += ["-n"] }
        let assignments = variables.sorted { $0.key < $1.key }.map { "\($0.key) = \(pythonString($0.value))" }
        arguments += ["-c", prelude + "\n" + assignments.joined(separator: "\n"), "-c", script]
        let result = try await runChecked(
            try Tool.path("nbdsh"), arguments, in: directory, timeout: timeout, environment: Tool.systemEnvironment)
        return ScriptReport(result.standardOutput)
    }

    /// A Python string literal: JSON's escaping is valid Python.
    static func pythonString(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        // A string always encodes; the optional only satisfies the API.
        let data = (try? encoder.encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// The `name=value` lines a script printed, in order.
struct ScriptReport: CustomStringConvertible {
    let lines: [(name: String, value: String)]

    init(_ output: String) {
        lines = output.split(separator: "\n").compactMap { line in
            guard let equals = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<equals]), String(line[line.index(after: equals)...]))
        }
    }

    /// The last value reported under `name`.
    subscript(name: String) -> String? { lines.last { $0.name == name }?.value }

    var description: String { lines.map { "\($0.name)=\($0.value)" }.joined(separator: "\n") }
}
