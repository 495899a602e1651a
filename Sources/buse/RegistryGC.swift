#if Services
    import ArgumentParser
    import Foundation
    import RegistryStorage

    /// `buse registry gc`: online garbage collection of a registry root.
    struct RegistryGC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Delete blobs no manifest references, while the registry keeps serving.",
            discussion: """
                Marks every blob a manifest of any repository references (config, layers, \
                index children, referrers), then deletes the others that are older than the \
                grace period. There is no read-only window: a push that races the collection \
                either keeps its blobs or is told to push them again, never acknowledged with \
                a missing one. Untagged manifests are kept: delete them through the API first \
                to free their blobs. Run it beside `buse registry serve` on the same root, or \
                let serve run it with --gc-interval.

                Examples:
                  buse registry gc --root /srv/registry --dry-run
                  buse registry gc --root /srv/registry --grace 30m
                """)

        @Option(help: ArgumentHelp("The registry's root directory.", valueName: "dir"))
        var root: String

        @Option(help: ArgumentHelp("Keep unreferenced blobs younger than this (e.g. 90s, 30m, 2h).", valueName: "duration"))
        var grace: String = "1h"

        @Flag(help: "Report what would be deleted; delete nothing.")
        var dryRun = false

        func validate() throws {
            guard TimeToLive.parse(grace, minimum: 0) != nil else {
                throw ValidationError("--grace \(grace) is not a duration such as 90s, 30m or 2h")
            }
        }

        func run() throws {
            let store: RegistryStore
            do { store = try RegistryStore(root: root) } catch { throw CommandLineError("registry at \(root): \(error)") }
            let collection = GarbageCollection(gracePeriod: TimeToLive.parse(grace, minimum: 0) ?? .seconds(3600), dryRun: dryRun)
            let marking = ProgressLine("gc: marking", unit: .items("repositories"))
            let sweeping = ProgressLine("gc: sweeping", unit: .items("blobs"))
            let summary: GarbageCollection.Summary
            do {
                summary = try collection.run(store) { progress in
                    switch progress.phase {
                    case .mark: marking.update(done: UInt64(progress.done), total: UInt64(progress.total))
                    case .sweep: sweeping.update(done: UInt64(progress.done), total: UInt64(progress.total))
                    }
                }
            } catch {
                throw CommandLineError("gc: \(error)")
            }
            marking.finish()
            sweeping.finish()
            print(
                "gc: \(summary.repositories) repositories, \(summary.manifests) manifests, \(summary.blobsMarked) blobs referenced; "
                    + "\(dryRun ? "would delete" : "deleted") \(summary.blobsDeleted) of \(summary.blobsSeen) blobs "
                    + "(\(ByteCount.text(summary.bytesFreed)) \(dryRun ? "to free" : "freed")), "
                    + "kept \(summary.blobsKept) unreferenced within the grace period; "
                    + "\(summary.linksRemoved) repository link(s) to them \(dryRun ? "would go" : "removed")")
        }
    }
#endif
