/// The JSON bodies of the listing endpoints, rendered by hand (keys in the
/// spec's order, strings escaped by `JSONText`).
public enum ResponseBody {
    /// `GET /v2/<name>/tags/list`: `{"name":"<name>","tags":[...]}`.
    public static func tagList(name: RepositoryName, tags: [String]) -> String {
        #"{"name":"# + JSONText.quoted(name.value) + #","tags":"# + array(tags) + "}"
    }

    /// `GET /v2/_catalog`: `{"repositories":[...]}`.
    public static func catalog(_ repositories: [String]) -> String {
        #"{"repositories":"# + array(repositories) + "}"
    }

    /// `GET /v2/<name>/referrers/<digest>`: an OCI image index whose
    /// `manifests` are the referrers' descriptors (an empty list when there
    /// are none: the spec wants 200 with an empty index, never 404).
    public static func referrersIndex(_ descriptors: [Descriptor]) -> String {
        #"{"schemaVersion":2,"mediaType":"# + JSONText.quoted(ManifestMediaType.ociIndex.rawValue)
            + #","manifests":["# + descriptors.map(\.json).joined(separator: ",") + "]}"
    }

    private static func array(_ strings: [String]) -> String {
        "[" + strings.map(JSONText.quoted).joined(separator: ",") + "]"
    }
}
