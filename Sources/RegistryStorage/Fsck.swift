import Glibc
public import RegistryCore

/// A check of a registry root, and its repair (`buse registry fsck`).
///
/// What it finds:
/// - blobs whose content does not hash to their name (a disk or a tool
///   that wrote behind the registry's back): repair deletes them, so a
///   client's next push stores them whole again;
/// - partial blobs: a blob directory without `data`, or files beside it
///   (a crash between write and rename): repair removes them;
/// - dangling links: a repository's layer or manifest link whose blob is
///   missing, a tag whose manifest revision is missing, a referrer whose
///   manifest is gone: repair removes the link (and the tag);
/// - links that hold no digest, or another digest than their path names.
///
/// A registry written only by buse and docker-registry has none of these;
/// after `kill -9` at any point it has at most leftovers that
/// `removeLeftovers` clears at start-up, which fsck also reports.
public struct Fsck: Sendable {
    public enum Finding: Sendable, Equatable, CustomStringConvertible {
        case digestMismatch(Digest, actual: Digest)
        case partialBlob(path: String)
        case danglingLink(path: String, missing: Digest)
        case corruptLink(path: String)
        case leftover(path: String)

        public var description: String {
            switch self {
            case let .digestMismatch(digest, actual): "blob \(digest) holds content that hashes to \(actual)"
            case let .partialBlob(path): "partial blob: \(path)"
            case let .danglingLink(path, missing): "dangling link \(path): \(missing) is missing"
            case let .corruptLink(path): "corrupt link \(path)"
            case let .leftover(path): "crash leftover \(path)"
            }
        }
    }

    public struct Report: Sendable {
        public var findings: [Fsck.Finding] = []
        public var blobsChecked = 0
        public var repositoriesChecked = 0
        /// Whether the findings were repaired.
        public var repaired = false
        public var isClean: Bool { findings.isEmpty }
    }

    public var repair: Bool

    public init(repair: Bool = false) { self.repair = repair }

    /// Checks (and with `repair`, mends) `store`; `progress` gets each blob checked.
    public func run(_ store: RegistryStore, progress: (Int, Int) -> Void = { _, _ in }) throws(StorageError) -> Report {
        var report = Report()
        try checkBlobs(store, &report, progress)
        for text in try store.repositories() {
            guard let name = try? RepositoryName(validating: text) else { continue }
            try checkLinks(of: store.repository(name), &report)
            report.repositoriesChecked += 1
        }
        report.repaired = repair && !report.findings.isEmpty
        return report
    }

    private func checkBlobs(_ store: RegistryStore, _ report: inout Report, _ progress: (Int, Int) -> Void) throws(StorageError) {
        let digests = try store.blobs.all()
        for (index, digest) in digests.enumerated() {
            defer { progress(index + 1, digests.count) }
            let directory = store.layout.blobDirectory(digest)
            for entry in try Directory.entries(directory) where entry.name != "data" {
                try note(.leftover(path: directory + "/" + entry.name), &report) { () throws(StorageError) in
                    if entry.isDirectory {
                        try Directory.removeTree(directory + "/" + entry.name)
                    } else {
                        try Directory.removeFile(directory + "/" + entry.name)
                    }
                }
            }
            guard store.blobs.hasData(digest) else {
                try note(.partialBlob(path: directory), &report) { () throws(StorageError) in try Directory.removeTree(directory) }
                continue
            }
            report.blobsChecked += 1
            let actual = try store.blobs.hash(digest)
            if actual != digest {
                try note(.digestMismatch(digest, actual: actual), &report) { () throws(StorageError) in try store.blobs.delete(digest) }
            }
        }
    }

    private func checkLinks(of repository: Repository, _ report: inout Report) throws(StorageError) {
        for (path, digest) in try repository.allLinks() {
            guard let digest else {
                try note(.corruptLink(path: path), &report) { () throws(StorageError) in
                    try LinkFile.remove(path, repository.layout.durability)
                }
                continue
            }
            guard repository.blobs.hasData(digest) else {
                try note(.danglingLink(path: path, missing: digest), &report) { () throws(StorageError) in try repository.removeLink(path) }
                continue
            }
        }
    }

    /// Records a finding and, when repairing, runs its repair.
    private func note(
        _ finding: Finding, _ report: inout Report, repairing: () throws(StorageError) -> Void
    )
        throws(StorageError)
    {
        report.findings.append(finding)
        if repair { try repairing() }
    }
}
