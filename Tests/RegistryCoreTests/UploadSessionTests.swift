import Testing

@testable import RegistryCore

/// Transcripts: each step is one event and the action it must produce.
@Suite struct UploadSessionTests {
    static let digest = (try? Digest(parsing: "sha256:" + String(repeating: "e", count: 64))) ?? { fatalError("bad test digest") }()

    func run(from size: UInt64, _ steps: [(UploadSession.Event, UploadSession.Action)]) -> UploadSession {
        var session = UploadSession(size: size)
        for (index, (event, expected)) in steps.enumerated() {
            let action = session.event(event)
            #expect(action == expected, "step \(index): \(event)")
        }
        return session
    }

    @Test func chunkedUploadAcknowledgesEachChunkThenCommits() {
        let session = run(
            from: 0,
            [
                (.chunk(contentRange: "0-9", contentLength: 10), .append(offset: 0, length: 10)),
                (.appended(length: 10), .acknowledge(range: "0-9")),
                (.status, .reportProgress(range: "0-9")),
                (.chunk(contentRange: "10-14", contentLength: 5), .append(offset: 10, length: 5)),
                (.appended(length: 5), .acknowledge(range: "0-14")),
                (.finish(Self.digest, contentRange: nil, contentLength: 0), .commit(Self.digest)),
                (.committed, .created(Self.digest)),
                (.status, .reject(RegistryError(.blobUploadUnknown))),
            ])
        #expect(session.state == .finished(Self.digest))
    }

    @Test func streamedPatchAndAFinalChunkInThePut() {
        _ = run(
            from: 0,
            [
                (.chunk(contentRange: nil, contentLength: nil), .append(offset: 0, length: nil)),
                (.appended(length: 1000), .acknowledge(range: "0-999")),
                (.finish(Self.digest, contentRange: "1000-1009", contentLength: 10), .append(offset: 1000, length: 10)),
                (.appended(length: 10), .commit(Self.digest)),
                (.committed, .created(Self.digest)),
            ])
    }

    @Test func aChunkOutOfOrderIsRefusedAndTheSessionContinues() {
        let session = run(
            from: 20,
            [
                (
                    .chunk(contentRange: "0-9", contentLength: 10),
                    .reject(RegistryError(.rangeInvalid, message: "chunk out of order", detail: ["expected start": "20"]))
                ),
                (.status, .reportProgress(range: "0-19")),
                (.chunk(contentRange: "20-29", contentLength: 10), .append(offset: 20, length: 10)),
            ])
        #expect(session.state == .appending(size: 20, length: 10, then: nil))
    }

    @Test func aBodyShorterThanAnnouncedIsSizeInvalidButCounted() {
        let session = run(
            from: 0,
            [
                (.chunk(contentRange: nil, contentLength: 10), .append(offset: 0, length: 10)),
                (.appended(length: 4), .reject(RegistryError(.sizeInvalid))),
                (.status, .reportProgress(range: "0-3")),
            ])
        #expect(session.state == .receiving(size: 4))
    }

    @Test func aCancelledSessionIsUnknownAfterwards() {
        _ = run(
            from: 5,
            [
                (.cancel, .remove),
                (.chunk(contentRange: nil, contentLength: 1), .reject(RegistryError(.blobUploadUnknown))),
                (.finish(Self.digest, contentRange: nil, contentLength: nil), .reject(RegistryError(.blobUploadUnknown))),
                (.cancel, .reject(RegistryError(.blobUploadUnknown))),
            ])
    }

    @Test func aPutAnnouncingNoBodyCommitsAtOnce() {
        _ = run(
            from: 3,
            [(.finish(Self.digest, contentRange: nil, contentLength: 0), .commit(Self.digest)), (.committed, .created(Self.digest))])
    }

    @Test func aPutWithoutALengthMayStillCarryABody() {
        _ = run(
            from: 0,
            [
                (.finish(Self.digest, contentRange: nil, contentLength: nil), .append(offset: 0, length: nil)),
                (.appended(length: 0), .commit(Self.digest)),
                (.committed, .created(Self.digest)),
            ])
    }
}
