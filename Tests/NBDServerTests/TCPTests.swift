import Logging
import NBDServer
import TestSupport
import Testing

extension ServerTests {
    @Suite("TCP")
    struct TCPTests {
        @Test func aServerAskedForPortZeroReportsTheBoundPortAndServesOnIt() async throws {
            let server = Server(
                exports: ExportTable([TestExports.memory()]),
                logger: Logger(label: "buse-test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let ports = try server.start(listening: [.tcp(host: "127.0.0.1", port: 0)])
            #expect(ports.count == 1 && ports[0] != 0)
            try await onOwnThread {
                let client = try RawClient(tcpPort: ports[0])
                let info = try client.handshake()
                #expect(info.size == 1 << 20)
                try client.write(pattern(4096, seed: 7), at: 4096, cookie: 1)
                #expect(try client.read(at: 4096, length: 4096, cookie: 2) == pattern(4096, seed: 7))
                try client.disconnect()
            }
            await server.shutdown()
        }
    }
}
