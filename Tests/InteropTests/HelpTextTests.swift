import Foundation
import Testing

/// `buse help` is what an operator reads first, in an 80-column terminal or
/// a pipe (where the argument parser lays text out in 80 columns). Prose
/// wraps well there; an example command does not: wrapped, its tail lands
/// at column 0 and reads as prose, and a copied command loses its options.
/// So every command's help prints, and every indented line of its
/// description (examples, configuration, tables) fits in 80 columns.
@Suite struct HelpTextTests {
    static let width = 80

    @Test func everyCommandsExamplesFitAnEightyColumnTerminal() async throws {
        let directory = try TemporaryDirectory()
        var commands: [[String]] = [[]]
        var visited = 0
        var overlong: [String] = []
        while let command = commands.popLast() {
            visited += 1
            // Laid out wide, nothing is wrapped, so each line is as written.
            let help = try await runChecked(
                try Tool.buse(), command + ["--help"], in: directory, timeout: .seconds(60), environment: ["COLUMNS": "1000"])
            let text = help.standardOutput
            let description = text.components(separatedBy: "USAGE:").first ?? ""
            for line in description.split(separator: "\n") where line.first == " " && line.count > Self.width {
                overlong.append("buse \(command.joined(separator: " ")): \(line.count) columns: \(line)")
            }
            commands += Self.subcommands(in: text).map { command + [$0] }
        }
        // The tree walked: every command of the top level and below.
        #expect(visited >= 30, "only \(visited) commands found")
        #expect(overlong.isEmpty, "\(overlong.joined(separator: "\n"))")
    }

    /// The names listed under SUBCOMMANDS (but `help`).
    static func subcommands(in help: String) -> [String] {
        guard let section = help.components(separatedBy: "SUBCOMMANDS:").dropFirst().first else { return [] }
        return section.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("  "), let first = line.dropFirst(2).first, first.isLowercase else { return nil }
            let name = String(line.dropFirst(2).prefix { !$0.isWhitespace })
            return name == "help" ? nil : name
        }
    }
}
