import Foundation
import Testing

/// The systemd units in examples/ are what an operator installs, so they
/// must be units systemd takes as written: `systemd-analyze verify` finds
/// nothing to say about any of them (with the buse they start pointed at
/// this build, since verify checks that each command exists), and every
/// option their example settings give buse is one the command still has.
@Suite struct ExampleUnitTests {
    static let examples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples").path

    static var units: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: examples)) ?? []).filter { $0.hasSuffix(".service") }.sorted()
    }

    @Test func theExamplesHoldTheUnitsTheirReadmeNames() throws {
        let readme = try String(contentsOfFile: Self.examples + "/README.md", encoding: .utf8)
        #expect(Self.units.count >= 3, "\(Self.units)")
        for unit in Self.units { #expect(readme.contains("`\(unit)`"), "examples/README.md does not name \(unit)") }
    }

    @Test(arguments: units)
    func systemdFindsNothingToSayAboutTheUnit(unit: String) async throws {
        let directory = try TemporaryDirectory()
        let text = try String(contentsOfFile: Self.examples + "/" + unit, encoding: .utf8)
        let copy = directory.file(unit)
        try text.replacingOccurrences(of: "/usr/local/bin/buse", with: try Tool.buse())
            .write(toFile: copy, atomically: true, encoding: .utf8)
        let result = try await run("systemd-analyze", ["verify", copy], in: directory, timeout: .seconds(120))
        #expect(result.succeeded, "\(result)")
        // Warnings (an unknown key, a bad value) leave the exit status 0.
        let unitName = unit.replacingOccurrences(of: "@.service", with: "@")
        let said = (result.standardOutput + result.standardError).split(separator: "\n").filter { $0.contains(unitName) }
        #expect(said.isEmpty, "systemd-analyze verify on \(unit):\n\(said.joined(separator: "\n"))")
    }

    /// Each commented `NAME_OPTIONS=...` setting, with the buse subcommand
    /// its unit's ExecStart runs.
    static func exampleSettings(_ unit: String) throws -> [(command: [String], options: [String])] {
        let text = try String(contentsOfFile: examples + "/" + unit, encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        guard let exec = lines.first(where: { $0.hasPrefix("ExecStart=/usr/local/bin/buse ") }) else { return [] }
        let command = exec.dropFirst("ExecStart=/usr/local/bin/buse ".count).split(separator: " ")
            .prefix { !$0.hasPrefix("$") }.map(String.init)
        return lines.compactMap { line in
            guard line.hasPrefix("#   BUSE_"), let equals = line.firstIndex(of: "=") else { return nil }
            return (command, line[line.index(after: equals)...].split(separator: " ").map(String.init))
        }
    }

    @Test(arguments: units)
    func everyOptionTheUnitsExampleGivesIsOneTheCommandHas(unit: String) async throws {
        let directory = try TemporaryDirectory()
        for (command, options) in try Self.exampleSettings(unit) {
            let help = try await runChecked(
                try Tool.buse(), command + ["--help"], in: directory, timeout: .seconds(60), environment: ["COLUMNS": "1000"])
            for option in options where option.hasPrefix("--") {
                #expect(help.standardOutput.contains("  \(option) "), "buse \(command.joined(separator: " ")) has no \(option)")
            }
        }
    }
}
