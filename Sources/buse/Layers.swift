import ArgumentParser
import Glibc
import LayerDiff
import SnapshotterStorage

/// `buse layers`: the layers of the snapshotter's snapshots.
struct Layers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The layers of buse snapshotter snapshots: OCI layer tars, and sealed layers other hosts attach over NBD.",
        subcommands: [LayersDiff.self, LayersSeal.self, LayersList.self, LayersAttach.self, LayersDetach.self])
}

struct LayersDiff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Write the OCI layer tar of an active snapshot, computed from its upper directory alone.",
        discussion: """
            The time taken follows the size of the change, not of the layers below: \
            the snapshot's overlay upper directory is read, and the layers below are asked \
            only about single paths (whether a deleted name existed). Whiteouts become \
            .wh.NAME, opaque directories .wh..wh..opq; hard links, owners, modes, \
            symbolic links and extended attributes (as PAX SCHILY.xattr records, \
            overlayfs' own left out) are kept. The store is opened read-only, so this \
            runs beside `buse snapshotter serve`; nothing may write to the snapshot meanwhile.

            KEY is the snapshotter's key (NAMESPACE/N/NAME, as containerd sends it) or \
            containerd's name of the snapshot in --namespace.

            Example (the layer of a container's snapshot, like `ctr snapshots diff`):
              ctr snapshots --snapshotter buse prepare my-work BASE-CHAIN-ID
              # ... change files under the mounted snapshot ...
              buse layers diff my-work --root /var/lib/buse/snapshotter --gzip > layer.tgz
            """)

    @Argument(help: ArgumentHelp("The active (or committed) snapshot's key.", valueName: "key"))
    var key: String

    @Option(help: ArgumentHelp("The snapshotter's root directory (its --root).", valueName: "dir"))
    var root: String

    @Option(help: ArgumentHelp("Where to write the layer; - is standard output.", valueName: "file"))
    var output = "-"

    @Option(help: ArgumentHelp("containerd's namespace, for a key given by its containerd name.", valueName: "name"))
    var namespace = "default"

    @Flag(help: "Compress the layer with gzip (application/vnd.oci.image.layer.v1.tar+gzip).")
    var gzip = false

    func run() throws {
        let directories = try Self.directories(key: key, namespace: namespace, root: root)
        let toStandardOutput = output == "-"
        if toStandardOutput && isatty(STDOUT_FILENO) == 1 {
            throw CommandLineError("refusing to write a tar to a terminal: redirect standard output or give --output FILE")
        }
        let descriptor = toStandardOutput ? STDOUT_FILENO : open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CommandLineError("cannot create \(output): \(String(cString: strerror(errno)))") }
        do {
            let upper = UpperDirectory(path: directories.upper, lowers: LowerLayers(directories: directories.lowers))
            let file = FileDescriptorOutput(descriptor: descriptor)
            if gzip {
                var writer = TarWriter(output: try GzipOutput(base: file))
                try upper.write(to: &writer)
            } else {
                var writer = TarWriter(output: file)
                try upper.write(to: &writer)
            }
        } catch {
            if !toStandardOutput {
                close(descriptor)
                unlink(output)
            }
            throw CommandLineError("cannot write the layer of \(key): \(error)")
        }
        // close reports a delayed write error (NFS, a full disk) that write did not.
        if !toStandardOutput && close(descriptor) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(output)
            throw CommandLineError("cannot write the layer of \(key): close \(output): \(reason)")
        }
    }

    /// The snapshot's directories, found by its exact key or by containerd's
    /// name in `namespace` (the snapshotter sees `NAMESPACE/N/NAME`).
    static func directories(key: String, namespace: String, root: String) throws -> LayerDirectories {
        let store: SnapshotStore
        do { store = try SnapshotStore(readingOnly: root) } catch {
            throw CommandLineError("cannot open the snapshotter store \(root): \(error.message)")
        }
        do {
            return try store.layerDirectories(key: key)
        } catch .refused(.notFound) {
            let matches = try matchingKeys(store, name: key, namespace: namespace)
            guard matches.count == 1 else {
                throw CommandLineError(
                    matches.isEmpty
                        ? "no snapshot \(key) in \(root) (nor \(namespace)/N/\(key))"
                        : "several snapshots are named \(key): \(matches.joined(separator: ", "))")
            }
            do { return try store.layerDirectories(key: matches[0]) } catch {
                throw CommandLineError("snapshot \(matches[0]): \(error.message)")
            }
        } catch {
            throw CommandLineError("snapshot \(key): \(error.message)")
        }
    }

    /// Keys of the form `namespace/N/name`, N a number (containerd's metadata id).
    static func matchingKeys(_ store: SnapshotStore, name: String, namespace: String) throws -> [String] {
        let all: [String]
        do { all = try store.list(filters: []).map(\.key) } catch { throw CommandLineError("list snapshots: \(error.message)") }
        let prefix = namespace + "/"
        let suffix = "/" + name
        return all.filter { key in
            guard key.hasPrefix(prefix), key.hasSuffix(suffix), key.count > prefix.count + suffix.count else { return false }
            let middle = key.dropFirst(prefix.count).dropLast(suffix.count)
            return middle.allSatisfy(\.isNumber)
        }
    }
}
