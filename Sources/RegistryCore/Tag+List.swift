/// The tags of one `PUT /v2/<name>/manifests/<digest>?tag=a&tag=b`.
extension Tag {
    /// At most this many tags in one request. The spec asks registries to
    /// take at least 10 and lets them answer 414 past their limit; 100
    /// keeps one PUT's tag links (two durable files each) bounded.
    public static let perRequestMaximum = 100

    /// Validates every value before any is used, so a request with one bad
    /// tag stores nothing: `TAG_INVALID` (400) naming the first bad one, or
    /// 414 past `perRequestMaximum`. Repeated tags count once; the order of
    /// first appearance is kept.
    public static func list(_ values: [String]) throws(RegistryError) -> [Tag] {
        var tags: [Tag] = []
        for value in values {
            let tag: Tag
            do throws(RegistryError) {
                tag = try Tag(validating: value)
            } catch {
                throw RegistryError(.tagInvalid, message: error.message, detail: error.detail)
            }
            if !tags.contains(tag) { tags.append(tag) }
        }
        guard tags.count <= perRequestMaximum else {
            throw RegistryError(.tagInvalid, message: "more than \(perRequestMaximum) tags in one request", status: 414)
        }
        return tags
    }
}
