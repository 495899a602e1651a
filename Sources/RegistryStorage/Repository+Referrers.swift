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
    public func referrers(of subject: Digest, artifactType: String? = nil) throws(StorageError) -> [Descriptor] {
        var descriptors: [Descriptor] = []
        let directory = layout.referrers(name, subject)
        for algorithm in try Directory.entries(directory) where algorithm.isDirectory {
            for entry in try Directory.entries(directory + "/" + algorithm.name) where entry.isDirectory {
                let link = directory + "/" + algorithm.name + "/" + entry.name + "/link"
                guard let digest = try LinkFile.readDigest(link), let stored = try manifestIfPresent(digest),
                    let manifest = stored.manifest
                else { continue }
                guard artifactType == nil || manifest.artifactType == artifactType else { continue }
                descriptors.append(
                    Descriptor(
                        mediaType: manifest.mediaType.rawValue, digest: digest, size: Int64(stored.bytes.count),
                        artifactType: manifest.artifactType, annotations: manifest.annotations))
            }
        }
        return descriptors.sorted { $0.digest.description.utf8.lexicographicallyPrecedes($1.digest.description.utf8) }
    }
}
