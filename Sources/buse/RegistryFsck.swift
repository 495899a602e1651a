#if Services
    import ArgumentParser
    import Foundation
    import RegistryStorage

    /// `buse registry fsck`: check a registry root, and repair it.
    struct RegistryFsck: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fsck",
            abstract: "Check a registry root: blob digests, partial blobs, dangling links.",
            discussion: """
                Re-hashes every blob and checks every link of every repository. Exits 0 when \
                the root is clean, 1 when it found damage (listed), after repairing it with \
                --repair: corrupt blobs are deleted (the next push stores them again), \
                partial blobs and crash leftovers removed, dangling links and their tags \
                removed. Safe beside a running registry without --repair; stop the registry \
                to repair.

                Examples:
                  buse registry fsck --root /srv/registry
                  buse registry fsck --root /srv/registry --repair
                """)

        @Option(help: ArgumentHelp("The registry's root directory.", valueName: "dir"))
        var root: String

        @Flag(help: "Mend what was found.")
        var repair = false

        func run() throws {
            let store: RegistryStore
            do { store = try RegistryStore(root: root) } catch { throw CommandLineError("registry at \(root): \(error)") }
            let progress = ProgressLine("fsck", unit: .items("blobs"))
            let report: Fsck.Report
            do {
                report = try Fsck(repair: repair).run(store) { done, total in progress.update(done: UInt64(done), total: UInt64(total)) }
            } catch {
                throw CommandLineError("fsck: \(error)")
            }
            progress.finish()
            for finding in report.findings { print(finding) }
            print(
                "fsck: \(report.blobsChecked) blobs and \(report.repositoriesChecked) repositories checked: "
                    + (report.isClean ? "clean" : "\(report.findings.count) finding(s)\(report.repaired ? ", repaired" : "")"))
            if !report.isClean { throw ExitCode(1) }
        }
    }
#endif
