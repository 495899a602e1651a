import Hummingbird
import HummingbirdTesting
import Synchronization
import TestSupport
import Testing

/// `Expect: 100-continue` (curl sends it on every upload over 1 MiB, then
/// waits a second for the interim answer) gets `100 Continue` at once, and
/// the request then completes as without it.
@Suite struct ExpectContinueTests {
    @Test func anUploadExpectingContinueGetsItAndThenItsAnswer() async throws {
        let blob = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let digest = sha256(blob)
        try await TestRegistry().test(.live) { client in
            guard let port = client.port else { throw TestFailure("the live test client has no port") }
            let head = Array(
                ("POST /v2/expect/one/blobs/uploads/?digest=\(digest) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "Content-Type: application/octet-stream\r\nContent-Length: \(blob.count)\r\n"
                    + "Expect: 100-continue\r\nConnection: close\r\n\r\n").utf8)
            let reply = Reply()
            await runOnThreads(1) { _ in
                let result = Result { try HTTPWire(port: port).send(head, blob) }
                reply.result.withLock { $0 = result }
            }
            #expect(try reply.result.withLock { try $0?.get() }?.status == 100)
            let pulled = try await client.request(.get, "/v2/expect/one/blobs/\(digest)")
            #expect(pulled.status == .ok)
            #expect(pulled.bytes == blob)
        }
    }

    /// The reply, from the thread that read it.
    final class Reply: Sendable {
        let result = Mutex<Result<HTTPWire.Reply?, any Error>?>(nil)
    }
}
