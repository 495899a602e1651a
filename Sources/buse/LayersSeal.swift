import ArgumentParser
import DeviceCatalog
import SealedLayers
import SnapshotterStorage

struct LayersSeal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Seal a committed layer, and the layers below it, into read-only EROFS images other hosts attach.",
        discussion: """
            Each layer is built by mkfs.erofs (erofs-utils) from the layer's own directory \
            (whiteouts, opaque directories, hard links, owners, modes, xattrs and times \
            kept) into ROOT/sealed/sha256-HEX.erofs, named by the layer's chain ID, made \
            durable before it is listed. Sealing a sealed layer changes nothing. The store \
            is read only, so this runs beside `buse snapshotter serve`.

            KEY is a committed snapshot's key (NAMESPACE/N/CHAIN-ID, as containerd commits \
            an image's layers), or its containerd name (the chain ID) in --namespace.

            Example (seal an image's layers, then export them to other hosts):
              ctr images import --snapshotter buse image.tar
              buse layers seal sha256:TOP --root /var/lib/buse/snapshotter
              buse serve --sealed-layers /var/lib/buse/snapshotter --listen 0.0.0.0:10809
            A second host then runs:
              buse layers attach sha256:TOP --from HOST:10809 --mount /run/rootfs \\
                                 --daemon
            sha256:TOP, an image's top layer: in `ctr snapshots --snapshotter buse ls`, the \
            committed snapshot that is no other's parent.
            """)

    @Argument(help: ArgumentHelp("The committed snapshot's key or chain ID.", valueName: "key"))
    var key: String?

    @Flag(help: "Seal every committed layer named by a chain ID that is not sealed yet.")
    var all = false

    @Option(help: ArgumentHelp("The snapshotter's root directory (its --root).", valueName: "dir"))
    var root: String

    @Option(help: ArgumentHelp("containerd's namespace, for a key given by its containerd name.", valueName: "name"))
    var namespace = "default"

    func validate() throws {
        if (key == nil) == !all { throw ValidationError("give a KEY, or --all (not both)") }
    }

    func run() throws {
        let store: SnapshotStore
        do { store = try SnapshotStore(readingOnly: root) } catch {
            throw CommandLineError("cannot open the snapshotter store \(root): \(error.message)")
        }
        let sealer = LayerSealer(store: store)
        guard let key else { return try sealAll(sealer) }
        let exactKey = try Self.resolve(key, namespace: namespace, in: store, root: root)
        do { Self.report(try sealer.seal(key: exactKey)) } catch {
            throw CommandLineError("cannot seal \(key): \(error)")
        }
    }

    /// Every committed layer named by a chain ID; one that fails is
    /// reported and the others are still sealed.
    private func sealAll(_ sealer: LayerSealer) throws {
        let keys: [String]
        do { keys = try sealer.store.list(filters: []).filter { $0.kind == .committed }.map(\.key) } catch {
            throw CommandLineError("list snapshots in \(root): \(error.message)")
        }
        var failures: [String] = []
        for key in keys where ChainID(snapshotKey: key) != nil {
            do { Self.report(try sealer.seal(key: key).filter(\.sealedNow)) } catch {
                failures.append("\(key): \(error)")
            }
        }
        guard failures.isEmpty else { throw CommandLineError("cannot seal:\n" + failures.joined(separator: "\n")) }
    }

    private static func report(_ outcomes: [LayerSealer.Outcome]) {
        for outcome in outcomes {
            let layer = outcome.layer
            let what = outcome.sealedNow ? "sealed" : "already sealed"
            let parent = layer.parent.map { "parent \($0)" } ?? "base layer"
            print("\(what) \(layer.chainID) (\(parent)), \(ByteSize.format(layer.size)), from \(outcome.source) into \(layer.image)")
        }
    }

    /// The store's key for `key`: itself, or the one key `NAMESPACE/N/KEY`.
    static func resolve(_ key: String, namespace: String, in store: SnapshotStore, root: String) throws -> String {
        if (try? store.stat(key: key)) != nil { return key }
        let matches = try LayersDiff.matchingKeys(store, name: key, namespace: namespace)
        guard matches.count == 1 else {
            throw CommandLineError(
                matches.isEmpty
                    ? "no snapshot \(key) in \(root) (nor \(namespace)/N/\(key))"
                    : "several snapshots are named \(key): \(matches.joined(separator: ", "))")
        }
        return matches[0]
    }
}

struct LayersList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the sealed layers under a snapshotter's root: chain ID, parent, size and image.",
        discussion: """
            Example:
              buse layers list --root /var/lib/buse/snapshotter
            """)

    @Option(help: ArgumentHelp("The snapshotter's root directory (its --root).", valueName: "dir"))
    var root: String

    func run() throws {
        // A root with nothing sealed lists no layers, but a mistyped root
        // must not look like one: its store must open, as for seal and diff.
        do { _ = try SnapshotStore(readingOnly: root) } catch {
            throw CommandLineError("--root \(root) is not a snapshotter's root (\(error.message))")
        }
        let layers: [SealedLayer]
        do { layers = try SealedLayerCatalog(root: root).all() } catch { throw CommandLineError("\(error)") }
        var rows: [[String]] = [["CHAIN-ID", "PARENT", "SIZE", "IMAGE"]]
        for layer in layers {
            rows.append([layer.chainID.text, layer.parent?.text ?? "-", ByteSize.format(layer.size), layer.image])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max()! }
        for row in rows {
            print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
    }
}
