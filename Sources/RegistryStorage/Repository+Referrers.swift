public import RegistryCore

extension Repository {
    /// The manifests in this repository whose `subject` is `subject`, as
    /// descriptors for the referrers API (mediaType, digest, size,
    /// artifactType, annotations), optionally only those of one artifact
    /// type; sorted by digest so listings are stable.
    ///
    /// Reads only `_referrers/<subject>/`, so the cost is proportional to the
    /// number of referrers. A link whose manifest revision is gone (deleted by
    /// distribution's garbage collector, which does not know our index) is
    /// skipped.
    ///
    /// The list is kept while `_referrers/<subject>/` and its algorithm
    /// directories are unchanged (`StampedCache`), and then served after
    /// checking only that each manifest is still linked and stored (a link
    /// and a `stat` each instead of reading and parsing every manifest); when
    /// one is gone, everything is read again.
    public func referrers(of subject: Digest, artifactType: String? = nil) throws(StorageError) -> [Descriptor] {
        let directory = layout.referrers(name, subject)
        let paths = [directory] + DigestAlgorithm.allCases.map { directory + "/" + $0.rawValue }
        var (all, wasKept) = try caches.referrers.lookup(paths) { () throws(StorageError) in try readReferrers(directory) }
        for descriptor in all where wasKept {
            guard try hasLink(layout.revisionLink(name, descriptor.digest), to: descriptor.digest),
                try blobs.size(of: descriptor.digest) != nil
            else {
                all = try readReferrers(directory)
                break
            }
        }
        guard let artifactType else { return all }
        return all.filter { $0.artifactType == artifactType }
    }

    private func readReferrers(_ directory: String) throws(StorageError) -> [Descriptor] {
        var descriptors: [Descriptor] = []
        for algorithm in try Directory.entries(directory) where algorithm.isDirectory {
            for entry in try Directory.entries(directory + "/" + algorithm.name) where entry.isDirectory {
                let link = directory + "/" + algorithm.name + "/" + entry.name + "/link"
                guard let digest = try LinkFile.readDigest(link), let stored = try manifestIfPresent(digest),
                    let manifest = stored.manifest
                else { continue }
                descriptors.append(
                    Descriptor(
                        mediaType: manifest.mediaType.rawValue, digest: digest, size: Int64(stored.bytes.count),
                        artifactType: manifest.artifactType, annotations: manifest.annotations))
            }
        }
        return descriptors.sorted { $0.digest.description.utf8.lexicographicallyPrecedes($1.digest.description.utf8) }
    }
}
