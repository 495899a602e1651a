import Foundation

/// A replication frame built by hand, byte for byte as
/// `Sources/Replication/Wire/FrameHeader.swift` lays it out (40 bytes,
/// big-endian: magic "BRPL", type, flags, tag, offset, length, CRC-32C of
/// the data, payload length, reserved zero), so tests can send what no buse
/// would: bad magic, unknown types, frames out of order, forged greetings.
struct RawReplicationFrame {
    static let magic: UInt32 = 0x4252_504C  // "BRPL"
    static let headerLength = 40

    enum Kind: UInt16 {
        case hello = 1, helloReply = 2, refuse = 3, write = 4, ack = 12
    }

    var magic = Self.magic
    var type: UInt16
    var flags: UInt16 = 0
    var tag: UInt64 = 0
    var offset: UInt64 = 0
    var length: UInt32 = 0
    var checksum: UInt32 = 0
    var payload: [UInt8] = []
    var reserved: UInt32 = 0

    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.bigEndian) { bytes += $0 } }
        put(magic)
        put(type)
        put(flags)
        put(tag)
        put(offset)
        put(length)
        put(checksum)
        put(UInt32(payload.count))
        put(reserved)
        return bytes + payload
    }

    /// A primary's greeting (Wire/Greeting.swift): protocol 1, its volume state, no dirty ranges.
    static func hello(volumeID: UInt64, size: Int, generation: UInt64, role: String = "primary") -> RawReplicationFrame {
        let greeting: [String: Any] = [
            "protocolVersion": 1,
            "state": [
                "volumeID": volumeID, "size": size, "role": role, "generation": generation, "history": [UInt64](),
                "peerGeneration": 0, "consistent": true, "cleanShutdown": true,
            ] as [String: Any],
            "dirty": [[UInt64]](),
            "node": "hostile test client",
        ]
        // Plain numbers, strings, arrays and dictionaries always serialise.
        let payload = Array((try? JSONSerialization.data(withJSONObject: greeting)) ?? Data())
        return RawReplicationFrame(type: Kind.hello.rawValue, tag: 1 << 63 | 1, payload: payload)
    }

    /// A well-formed WRITE of `data` at `offset`, with its correct checksum.
    static func write(_ data: [UInt8], at offset: UInt64, tag: UInt64 = 1) -> RawReplicationFrame {
        RawReplicationFrame(
            type: Kind.write.rawValue, tag: tag, offset: offset, length: UInt32(data.count),
            checksum: CRC32C.checksum(data), payload: data)
    }
}

/// A frame the replica sent back: its type and its payload as text.
struct ReceivedFrame: CustomStringConvertible {
    let type: UInt16
    let text: String
    var description: String { "type \(type): \(text)" }
}

/// What the replica did with one hostile connection.
struct HostileExchange: CustomStringConvertible {
    /// Frames received before the connection ended.
    var frames: [ReceivedFrame] = []
    /// Whether the replica ended the connection (EOF or reset) within the bound.
    var closedByReplica = false
    var note = ""

    /// The refusal's text, if the replica sent a refusal (type 3).
    var refusal: String? { frames.first { $0.type == RawReplicationFrame.Kind.refuse.rawValue }?.text }

    var description: String {
        "frames: \(frames.isEmpty ? "none" : frames.map(\.description).joined(separator: "; ")); "
            + "closed by the replica: \(closedByReplica)\(note.isEmpty ? "" : "; \(note)")"
    }
}

/// A plain TCP client of a replica's replication port: sends bytes, then
/// reads frames until the replica hangs up. Blocking, with a receive
/// timeout, so every exchange is bounded.
enum ReplicationWireClient {
    static func exchange(_ bytes: [UInt8], port: UInt16, timeout: Duration = .seconds(120)) throws -> HostileExchange {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw InteropError("socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { throw InteropError("cannot connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
        var interval = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < bytes.count {
            let written = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { break }  // the replica may hang up before reading it all
            sent += written
        }
        return readUntilClosed(descriptor, timeout: timeout)
    }

    private static func readUntilClosed(_ descriptor: Int32, timeout: Duration) -> HostileExchange {
        var exchange = HostileExchange()
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += chunk[..<count]
                continue
            }
            if count == 0 {
                exchange.closedByReplica = true
                break
            }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
            exchange.closedByReplica = true
            exchange.note = "recv: \(String(cString: strerror(errno)))"
            break
        }
        exchange.frames = frames(in: received, note: &exchange.note)
        return exchange
    }

    /// Splits received bytes into frames (header fields at FrameHeader.swift's offsets).
    private static func frames(in bytes: [UInt8], note: inout String) -> [ReceivedFrame] {
        func load(_ at: Int, _ width: Int) -> UInt64 { bytes[at..<(at + width)].reduce(0) { $0 << 8 | UInt64($1) } }
        var frames: [ReceivedFrame] = []
        var at = 0
        while bytes.count - at >= RawReplicationFrame.headerLength {
            guard load(at, 4) == UInt64(RawReplicationFrame.magic) else {
                note += " bytes after frame \(frames.count) do not start with BRPL"
                break
            }
            let payloadLength = Int(load(at + 32, 4))
            guard bytes.count - at - RawReplicationFrame.headerLength >= payloadLength else {
                note += " a frame's payload was cut short"
                break
            }
            let start = at + RawReplicationFrame.headerLength
            frames.append(
                ReceivedFrame(type: UInt16(load(at + 4, 2)), text: String(decoding: bytes[start..<(start + payloadLength)], as: UTF8.self)))
            at = start + payloadLength
        }
        if at < bytes.count && note.isEmpty { note = "\(bytes.count - at) trailing bytes" }
        return frames
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as replication
/// frames carry it: a WRITE with a wrong checksum would be refused for that
/// alone, and the tests want it refused for what they are testing.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = (crc >> 8) ^ table[Int((crc ^ UInt32(byte)) & 0xFF)] }
        return crc ^ 0xFFFF_FFFF
    }
}
