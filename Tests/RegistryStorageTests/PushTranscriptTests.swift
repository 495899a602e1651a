import RegistryCore
import Testing

@testable import RegistryStorage

/// A `docker push` as the HTTP layer will drive it: each request is routed
/// by the core, upload requests go through `UploadSession`, and storage does
/// what the actions say. No HTTP here, only the joins between the modules.
@Suite struct PushTranscriptTests {
    let directory = TemporaryDirectory()

    /// One upload request: rebuild the session from storage, feed it the
    /// request's event, and carry out the actions until an answer comes.
    func handle(
        _ store: RegistryStore, _ name: RepositoryName, _ id: UploadID, _ event: UploadSession.Event, body: [UInt8] = []
    ) throws -> UploadSession.Action {
        var session = UploadSession(size: try store.uploads.size(name, id))
        var action = session.event(event)
        var upload: Upload? = nil
        while true {
            switch action {
            case .append:
                var opened = try store.uploads.open(name, id)
                try opened.append(body)
                action = session.event(.appended(length: UInt64(body.count)))
                upload = consume opened
            case .commit(let digest):
                _ = try store.commit(upload.take() ?? store.uploads.open(name, id), as: digest)
                action = session.event(.committed)
            case .acknowledge:
                if let opened = upload.take() { try store.uploads.suspend(opened) }
                return action
            default:
                return action
            }
        }
    }

    func route(_ method: String, _ target: String) throws -> Route {
        try Route.parse(method: method, target: target)
    }

    @Test func aChunkedPushThenAPullSeesTheImage() throws {
        let store = try directory.store()
        let layer = Array(repeating: UInt8(ascii: "x"), count: 25)
        let config = Array("{}".utf8)
        guard case .startUpload(let name, .session) = try route("POST", "/v2/team/app/blobs/uploads/") else {
            Issue.record("POST did not route to an upload start")
            return
        }
        var digests: [Digest] = []
        for blob in [layer, config] {
            let id = try store.uploads.start(name, now: 0)
            let first = Array(blob.prefix(10))
            let range = "0-\(first.count - 1)"
            let chunk = UploadSession.Event.chunk(contentRange: range, contentLength: UInt64(first.count))
            #expect(try handle(store, name, id, chunk, body: first) == .acknowledge(range: range))
            // The same chunk again is out of order.
            let out = try handle(store, name, id, chunk, body: first)
            guard case .reject(let error) = out else {
                Issue.record("a repeated chunk was accepted")
                return
            }
            #expect(error.status == 416)
            let digest = Fixture.sha256(blob)
            guard
                case .finishUpload(_, let routedID, let routedDigest) = try route(
                    "PUT", "/v2/team/app/blobs/uploads/\(id)?digest=\(digest)")
            else {
                Issue.record("PUT did not route to an upload finish")
                return
            }
            let rest = Array(blob.dropFirst(first.count))
            let last = rest.isEmpty ? nil : "\(first.count)-\(blob.count - 1)"
            #expect(
                try handle(store, name, routedID, .finish(routedDigest, contentRange: last, contentLength: UInt64(rest.count)), body: rest)
                    == .created(digest))
            digests.append(digest)
        }
        let manifest = Fixture.imageManifest(config: digests[1], layers: [digests[0]])
        guard case .putManifest(_, let reference, _) = try route("PUT", "/v2/team/app/manifests/latest") else {
            Issue.record("manifest PUT did not route")
            return
        }
        let stored = try store.repository(name).putManifest(
            manifest, contentType: ManifestMediaType.ociManifest.rawValue, reference: reference)

        guard case .listTags(let listed, let page) = try route("GET", "/v2/team/app/tags/list?n=10") else {
            Issue.record("tags list did not route")
            return
        }
        let tags = page.page(of: try store.repository(listed).tags())
        #expect(ResponseBody.tagList(name: listed, tags: tags.entries) == #"{"name":"team/app","tags":["latest"]}"#)
        guard case .getManifest(_, let pulled) = try route("GET", "/v2/team/app/manifests/latest") else {
            Issue.record("manifest GET did not route")
            return
        }
        #expect(try store.repository(name).manifest(pulled).digest == stored.digest)
        guard case .getBlob(_, let blob) = try route("GET", "/v2/team/app/blobs/\(digests[0])") else {
            Issue.record("blob GET did not route")
            return
        }
        let reader = try store.repository(name).openBlob(blob)
        guard case .partial(let offset, let length) = ByteRange(header: "bytes=-5", size: reader.size) else {
            Issue.record("suffix range was not partial")
            return
        }
        #expect(try reader.read(at: offset, length: Int(length)) == Array(layer.suffix(5)))
        #expect(try store.repositories() == ["team/app"])
    }
}
