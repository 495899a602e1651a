import BlockDevices
import DeviceLayers
import LocalDevices
import NBDServer
import Testing

/// Every test here starts a real ``Server`` and talks to it over a Unix
/// socket in its own temporary directory. They run one at a time: the
/// open-socket count and the fuzzing's CPU budget assume no other server
/// test runs alongside.
@Suite("Server over real sockets", .serialized)
struct ServerTests {}

/// Exports the server tests use.
enum TestExports {
    /// A writable sparse memory export.
    static func memory(_ name: String = "disk", size: UInt64 = 1 << 20) -> Export {
        Export(name: name, device: MemoryDevice(size: size))
    }

    /// A read-only export over memory.
    static func readOnly(_ name: String = "archive", size: UInt64 = 1 << 16) -> Export {
        Export(name: name, device: ReadOnlyDevice(MemoryDevice(size: size)))
    }
}
