/// Every endpoint of the OCI distribution spec v1.1 this registry serves,
/// with its path and query already validated. The spec's endpoint ids are
/// beside each case. Parsing lives in `Route+Parsing.swift`.
public enum Route: Sendable, Equatable {
    /// end-1 `GET /v2/`
    case base
    /// `GET /v2/_catalog?n=&last=` (not in the spec, served as distribution does)
    case catalog(PageRequest)
    /// end-8a/8b `GET /v2/<name>/tags/list?n=&last=`
    case listTags(RepositoryName, PageRequest)
    /// end-2 `GET /v2/<name>/blobs/<digest>`
    case getBlob(RepositoryName, Digest)
    /// end-2 `HEAD /v2/<name>/blobs/<digest>`
    case headBlob(RepositoryName, Digest)
    /// end-10 `DELETE /v2/<name>/blobs/<digest>`
    case deleteBlob(RepositoryName, Digest)
    /// end-4a/4b/11 `POST /v2/<name>/blobs/uploads/`
    case startUpload(RepositoryName, UploadStart)
    /// end-13 `GET /v2/<name>/blobs/uploads/<id>`
    case getUpload(RepositoryName, UploadID)
    /// end-5 `PATCH /v2/<name>/blobs/uploads/<id>`
    case patchUpload(RepositoryName, UploadID)
    /// end-6 `PUT /v2/<name>/blobs/uploads/<id>?digest=`
    case finishUpload(RepositoryName, UploadID, Digest)
    /// `DELETE /v2/<name>/blobs/uploads/<id>` (cancel; distribution's)
    case cancelUpload(RepositoryName, UploadID)
    /// end-3 `GET /v2/<name>/manifests/<reference>`
    case getManifest(RepositoryName, Reference)
    /// end-3 `HEAD /v2/<name>/manifests/<reference>`
    case headManifest(RepositoryName, Reference)
    /// end-7 `PUT /v2/<name>/manifests/<reference>`, and end-7b
    /// `PUT /v2/<name>/manifests/<digest>?tag=a&tag=b`: `tags` are the extra
    /// tags to point at the manifest (only ever non-empty for a digest).
    case putManifest(RepositoryName, Reference, tags: [Tag])
    /// end-9 `DELETE /v2/<name>/manifests/<reference>`
    case deleteManifest(RepositoryName, Reference)
    /// end-12a/12b `GET /v2/<name>/referrers/<digest>?artifactType=`
    case listReferrers(RepositoryName, Digest, artifactType: String?)
}

/// How `POST /v2/<name>/blobs/uploads/` starts.
public enum UploadStart: Sendable, Equatable {
    /// Open a session for PATCH and PUT.
    case session
    /// `?digest=`: the whole blob is in this POST's body.
    case monolithic(Digest)
    /// `?mount=<digest>&from=<name>`: link a blob from another repository; `from`
    /// may be absent (the spec lets the registry look for the blob itself).
    case mount(Digest, from: RepositoryName?)
}
