import Foundation
import Glibc
import SnapshotterCore
public import SnapshotterStorage

/// Seals committed layers of a snapshotter's store into EROFS images.
///
/// A layer is sealed from its own `fs` directory (the overlay upper
/// directory containerd applied the layer into), so the image holds
/// exactly that layer: whiteouts stay 0/0 character devices and opaque
/// directories keep `trusted.overlay.opaque`, which overlayfs honours in a
/// lower layer as it does in an upper one. `mkfs.erofs` (erofs-utils 1.5)
/// keeps owners, modes, setuid bits, xattrs, hard links and, with
/// `--preserve-mtime`, every file's modification time.
///
/// Order of durable steps, so a crash leaves either a complete seal or
/// nothing a reader trusts (a leftover `*.tmp-PID` file at most):
/// 1. `mkfs.erofs` writes `sealed/sha256-HEX.erofs.tmp-PID`; it is padded
///    to a multiple of 4096 bytes (the kernel's nbd block size), fsynced,
///    renamed to `sha256-HEX.erofs`, and the directory fsynced;
/// 2. `sha256-HEX.parent` is written the same way; its presence marks the seal.
/// Sealing an already sealed layer changes nothing (idempotent).
public struct LayerSealer: Sendable {
    public let store: SnapshotStore
    public let catalog: SealedLayerCatalog
    /// The EROFS image builder: Debian's erofs-utils.
    public var mkfs = "/usr/bin/mkfs.erofs"

    public init(store: SnapshotStore) {
        self.store = store
        catalog = SealedLayerCatalog(root: store.root)
    }

    /// A layer of a chain, and whether this call sealed it (false: it already was).
    public struct Outcome: Sendable {
        public var layer: SealedLayer
        public var sealedNow: Bool
        /// The directory it was sealed from.
        public var source: String
    }

    /// Seals the committed snapshot `key` and every layer below it that is
    /// not sealed yet; returns the chain, top first.
    public func seal(key: String) throws(SealedLayerError) -> [Outcome] {
        let chain = try chainKeys(top: key)
        if mkdir(catalog.directory, 0o755) != 0 && errno != EEXIST {
            throw .system("create \(catalog.directory)", errno: errno)
        }
        removeLeftovers()
        var outcomes: [Outcome] = []
        // Base first: a crash halfway leaves a sealed prefix of the chain.
        for (index, link) in chain.enumerated().reversed() {
            let parent = index + 1 < chain.count ? chain[index + 1].chainID : nil
            let source = try directory(of: link.key)
            if let existing = try catalog.layer(link.chainID) {
                outcomes.append(Outcome(layer: existing, sealedNow: false, source: source))
                continue
            }
            let layer = try sealOne(link.chainID, parent: parent, from: source)
            outcomes.append(Outcome(layer: layer, sealedNow: true, source: source))
        }
        return outcomes.reversed()
    }

    /// The keys and chain IDs from `top` down to the base, each checked committed.
    private func chainKeys(top: String) throws(SealedLayerError) -> [(key: String, chainID: ChainID)] {
        var chain: [(key: String, chainID: ChainID)] = []
        var next: String? = top
        while let key = next {
            let snapshot: Snapshot
            do { snapshot = try store.stat(key: key) } catch { throw .refused("snapshot \(key): \(error.message)") }
            guard snapshot.kind == .committed else {
                throw .refused("snapshot \(key) is \(snapshot.kind.rawValue), not committed: only committed layers are sealed")
            }
            guard let chainID = ChainID(snapshotKey: key) else {
                throw .refused(
                    "snapshot \(key) is not named by a chain ID (NAMESPACE/N/sha256:HEX, as containerd commits an image's layers)")
            }
            guard chain.count < SealedLayerLimits.chainLengthMaximum else {
                throw .refused("the chain of \(top) is longer than \(SealedLayerLimits.chainLengthMaximum) layers")
            }
            chain.append((key, chainID))
            next = snapshot.parent
        }
        return chain
    }

    private func directory(of key: String) throws(SealedLayerError) -> String {
        do { return try store.layerDirectories(key: key).upper } catch { throw .refused("snapshot \(key): \(error.message)") }
    }

    private func sealOne(_ chainID: ChainID, parent: ChainID?, from source: String) throws(SealedLayerError) -> SealedLayer {
        let image = "\(catalog.directory)/\(chainID.fileStem).erofs"
        let temporary = "\(image).tmp-\(getpid())"
        unlink(temporary)
        try runMkfs(image: temporary, source: source)
        let fd = open(temporary, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .system("open \(temporary)", errno: errno) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            close(fd)
            unlink(temporary)
            throw .system("stat \(temporary)", errno: code)
        }
        // The kernel's nbd device has 4096-byte blocks: a size that is not a
        // multiple would be refused at attach. Zeros past the end are
        // harmless to EROFS (its superblock says how many blocks it uses).
        let size = (UInt64(status.st_size) + 4095) / 4096 * 4096
        guard ftruncate(fd, off_t(size)) == 0 else {
            let code = errno
            close(fd)
            unlink(temporary)
            throw .system("extend \(temporary) to \(size) bytes", errno: code)
        }
        try DurableFile.publish(fd, temporary, as: image)
        try DurableFile.write((parent?.text ?? "") + "\n", to: "\(catalog.directory)/\(chainID.fileStem).parent")
        return SealedLayer(chainID: chainID, parent: parent, image: image, size: size)
    }

    /// Temporary files of seals that died (`NAME.tmp-PID`, PID gone): a
    /// crash mid-seal leaves one, never a listed layer.
    private func removeLeftovers() {
        guard let handle = opendir(catalog.directory) else { return }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let marker = name.range(of: ".tmp-"), let pid = Int32(name[marker.upperBound...]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink("\(catalog.directory)/\(name)") }
        }
    }

    private func runMkfs(image: String, source: String) throws(SealedLayerError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mkfs)
        process.arguments = ["--quiet", "--preserve-mtime", image, source]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { throw .tool("\(mkfs) (is erofs-utils installed?)", status: -1, output: "\(error)") }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            unlink(image)
            let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .tool("mkfs.erofs \(image) \(source)", status: process.terminationStatus, output: text)
        }
    }
}
