import RegistryCore

extension Repository {
    /// Every link file of the repository (layers, revisions, tags' current
    /// and index links, referrers) with the digest it holds, nil for a link
    /// that holds none or another digest than its path names.
    func allLinks() throws(StorageError) -> [(path: String, digest: Digest?)] {
        var links: [(String, Digest?)] = []
        try collectLinks(in: layout.repository(name), into: &links)
        return links
    }

    private func collectLinks(in directory: String, into links: inout [(String, Digest?)]) throws(StorageError) {
        for entry in try Directory.entries(directory) {
            let path = directory + "/" + entry.name
            if entry.isDirectory {
                // Uploads have no links; leftovers are removeLeftovers' and fsck's blob pass's.
                guard entry.name != "_uploads", !entry.name.hasPrefix(".") else { continue }
                try collectLinks(in: path, into: &links)
            } else if entry.name == "link" {
                let digest = try? LinkFile.readDigest(path)
                links.append((path, digest.flatMap { Self.pathNames($0, path) ? $0 : nil }))
            }
        }
    }

    /// Whether a link's digest is the one its path names: every link but a
    /// tag's `current/link` sits under `<alg>/<hex>/link`.
    private static func pathNames(_ digest: Digest, _ path: String) -> Bool {
        guard !path.hasSuffix("/current/link") else { return true }
        return path.hasSuffix("/\(digest.algorithm.rawValue)/\(digest.encoded)/link")
    }

    /// Removes a link durably; a tag whose current link goes loses its whole
    /// directory, so no tag is left half there.
    func removeLink(_ path: String) throws(StorageError) {
        if path.hasSuffix("/current/link"), let tagName = path.split(separator: "/").dropLast(2).last,
            let tag = try? Tag(validating: String(tagName)), path == layout.tagCurrentLink(name, tag)
        {
            try deleteTag(tag)
            return
        }
        try LinkFile.remove(path, layout.durability)
        Directory.removeIfEmpty(LinkFile.parent(of: path))
    }

    /// The digests this repository has layer links for.
    func layerDigests() throws(StorageError) -> [Digest] {
        var digests: [Digest] = []
        for algorithm in DigestAlgorithm.allCases {
            let directory = layout.repository(name) + "/_layers/" + algorithm.rawValue
            for entry in try Directory.entries(directory) where entry.isDirectory {
                if let digest = try? Digest(parsing: algorithm.rawValue + ":" + entry.name) { digests.append(digest) }
            }
        }
        return digests
    }
}
