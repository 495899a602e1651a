public import RegistryCore

extension Repository {
    /// Stores a manifest pushed as `reference` and returns what was stored.
    ///
    /// Checks, as distribution does: the bytes parse; a digest reference
    /// matches the bytes; every config and layer is linked here and every
    /// child manifest of an index is stored here. The subject need not exist
    /// (the spec lets referrers be pushed first).
    ///
    /// Sync order: manifest blob (`BlobStore.put`) → revision link → referrer
    /// link when there is a subject → tag index link → tag current link. Each
    /// link is durable on its own (`LinkFile.write`), and each step only makes
    /// visible what the steps before it made durable, so a crash at any point
    /// leaves at worst an unreferenced blob or an untagged manifest.
    ///
    /// Against garbage collection: every blob and child manifest it references
    /// is pinned (`BlobPin`) from the check until the revision link is
    /// durable, then touched, so a collection running meanwhile either
    /// finished deleting it first (the push answers MANIFEST_BLOB_UNKNOWN and
    /// the client pushes the blob again) or keeps it.
    ///
    /// `tags` are further tags to point at it (`PUT .../manifests/<digest>?tag=`),
    /// each linked as the reference's own tag is, in order.
    public func putManifest(
        _ bytes: [UInt8], contentType: String?, reference: Reference, tags: [Tag] = []
    ) throws(StorageError) -> StoredManifest {
        let manifest: Manifest
        do throws(RegistryError) {
            manifest = try Manifest.parse(bytes, contentType: contentType)
        } catch {
            throw .manifestInvalid(error)
        }
        var algorithm = DigestAlgorithm.sha256
        if case .digest(let expected) = reference {
            algorithm = expected.algorithm
            let actual = ContentHasher.digest(of: bytes, algorithm: algorithm)
            guard actual == expected else { throw .digestMismatch(expected: expected, actual: actual) }
        }
        let pins = try checkReferences(of: manifest)
        // The manifest's own blob is pinned like the blobs it references,
        // until its revision link is durable: unpinned, a collection whose
        // mark ran before the link and whose cutoff is past the blob's
        // write deletes it, and the acknowledged manifest is gone (seen
        // under load in GarbageCollectionUnderLoadTests).
        let (digest, own) = try blobs.putPinned(bytes, algorithm: algorithm)
        try LinkFile.write(digest.description, to: layout.revisionLink(name, digest), below: layout.base, layout.durability)
        for pin in pins + [own] { try pin.touch() }
        if let subject = manifest.subject {
            try LinkFile.write(
                digest.description, to: layout.referrerLink(name, subject.digest, digest), below: layout.base, layout.durability)
        }
        var linkedTags = tags
        if case .tag(let tag) = reference { linkedTags.insert(tag, at: 0) }
        for tag in linkedTags {
            try LinkFile.write(digest.description, to: layout.tagIndexLink(name, tag, digest), below: layout.base, layout.durability)
            try LinkFile.write(digest.description, to: layout.tagCurrentLink(name, tag), below: layout.base, layout.durability)
        }
        return StoredManifest(digest: digest, bytes: bytes, mediaType: manifest.mediaType.rawValue, manifest: manifest)
    }

    /// Checks that every blob and child manifest is here, and pins each
    /// against garbage collection until the caller lets go of the pins.
    private func checkReferences(of manifest: Manifest) throws(StorageError) -> [BlobPin] {
        var pins: [BlobPin] = []
        for blob in manifest.referencedBlobs {
            guard try hasLink(layout.layerLink(name, blob.digest), to: blob.digest),
                let pin = try BlobPin(blob.digest, in: layout)
            else { throw .manifestBlobUnknown(blob.digest) }
            pins.append(pin)
        }
        for child in manifest.manifests {
            guard try hasLink(layout.revisionLink(name, child.digest), to: child.digest),
                let pin = try BlobPin(child.digest, in: layout)
            else { throw .manifestBlobUnknown(child.digest) }
            pins.append(pin)
        }
        return pins
    }

    /// The manifest a tag points at or a digest names.
    ///
    /// distribution 2.1.0 linked manifests into `_layers` by mistake and
    /// distribution still looks there, so a manifest linked only in `_layers`
    /// is served too, but only if it is small enough and parses as one: a
    /// layer must never be served, or read whole, as a manifest.
    public func manifest(_ reference: Reference) throws(StorageError) -> StoredManifest {
        let digest = try resolve(reference)
        let isRevision = try hasLink(layout.revisionLink(name, digest), to: digest)
        if !isRevision {
            guard try hasLink(layout.layerLink(name, digest), to: digest),
                let size = try blobs.size(of: digest), size <= Manifest.sizeMaximum
            else { throw .manifestUnknown(reference) }
        }
        let bytes: [UInt8]
        do {
            bytes = try blobs.read(digest, limit: Manifest.sizeMaximum)
        } catch {
            if case .blobUnknown = error { throw .manifestUnknown(reference) }
            throw error
        }
        let manifest = try? Manifest.parse(bytes, contentType: nil)
        guard isRevision || manifest != nil else { throw .manifestUnknown(reference) }
        return StoredManifest(digest: digest, bytes: bytes, mediaType: manifest?.mediaType.rawValue, manifest: manifest)
    }

    /// The digests of every manifest revision stored here, tagged or not,
    /// sorted by their text. Entries that are not valid digests are skipped.
    public func manifestDigests() throws(StorageError) -> [Digest] {
        let revisions = layout.manifests(name) + "/revisions"
        var digests: [Digest] = []
        for algorithm in DigestAlgorithm.allCases {
            for entry in try Directory.entries(revisions + "/" + algorithm.rawValue) where entry.isDirectory {
                guard let digest = try? Digest(parsing: algorithm.rawValue + ":" + entry.name),
                    try hasLink(layout.revisionLink(name, digest), to: digest)
                else { continue }
                digests.append(digest)
            }
        }
        return digests.sorted { $0.description.utf8.lexicographicallyPrecedes($1.description.utf8) }
    }

    /// The manifest with this digest, or nil when it is not here; operating
    /// failures still throw.
    func manifestIfPresent(_ digest: Digest) throws(StorageError) -> StoredManifest? {
        do {
            return try manifest(.digest(digest))
        } catch {
            if case .manifestUnknown = error { return nil }
            throw error
        }
    }

    /// The digest a reference names: a tag's `current/link`, or the digest itself.
    public func resolve(_ reference: Reference) throws(StorageError) -> Digest {
        switch reference {
        case .digest(let digest): return digest
        case .tag(let tag):
            guard let digest = try LinkFile.readDigest(layout.tagCurrentLink(name, tag)) else { throw .manifestUnknown(reference) }
            return digest
        }
    }

    /// Deletes a manifest by digest, with every tag that points at it (as
    /// distribution does) and its entry in its subject's referrers.
    ///
    /// Order: tags first (so no tag is left pointing at a missing revision),
    /// then the referrer link, then the revision link, each removal durable.
    /// The blob stays for garbage collection.
    public func deleteManifest(_ digest: Digest) throws(StorageError) {
        let reference = Reference.digest(digest)
        guard try hasLink(layout.revisionLink(name, digest), to: digest) else { throw .manifestUnknown(reference) }
        for tag in try tags() {
            guard let tag = try? Tag(validating: tag), try LinkFile.readDigest(layout.tagCurrentLink(name, tag)) == digest else { continue }
            try deleteTag(tag)
        }
        if let stored = try manifestIfPresent(digest), let subject = stored.manifest?.subject {
            let link = layout.referrerLink(name, subject.digest, digest)
            try LinkFile.remove(link, layout.durability)
            Directory.removeIfEmpty(LinkFile.parent(of: link))
        }
        try LinkFile.remove(layout.revisionLink(name, digest), layout.durability)
        Directory.removeIfEmpty(LinkFile.parent(of: layout.revisionLink(name, digest)))
    }
}
