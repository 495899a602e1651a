import Glibc
public import NBDProtocol

/// An export of a remote NBD server, negotiated to the transmission phase
/// over a TCP socket of its own (fixed newstyle, NBD_OPT_GO asking for the
/// description), as nbd-client does before it hands a socket to the
/// kernel. Blocking: call it from a command, not from Swift's cooperative pool.
public struct RemoteExport: Sendable {
    public let name: String
    /// The connected socket, in transmission; whoever takes it closes it.
    public let socket: Int32
    public let size: UInt64
    public let flags: TransmissionFlags
    public let description: String

    /// How long the server may take to answer the handshake: a silent
    /// server must fail the attach, not hang it. Cleared before the socket
    /// is handed on, since a read-only layer may sit idle for days.
    static let handshakeTimeoutSeconds = 60

    /// Connects to `host:port` and selects export `name`.
    public static func open(host: String, port: UInt16, name: String) throws(SealedLayerError) -> RemoteExport {
        let socket = try connect(host: host, port: port)
        do {
            let channel = HandshakeChannel(socket: socket, peer: "\(host):\(port)")
            try channel.setReceiveTimeout(seconds: handshakeTimeoutSeconds)
            let (size, flags, description) = try negotiate(channel, name: name)
            try channel.setReceiveTimeout(seconds: 0)
            return RemoteExport(name: name, socket: socket, size: size, flags: flags, description: description)
        } catch {
            close(socket)
            throw error
        }
    }

    private static func negotiate(
        _ channel: HandshakeChannel, name: String
    ) throws(SealedLayerError) -> (UInt64, TransmissionFlags, String) {
        guard try channel.readUInt64() == Magic.server, try channel.readUInt64() == Magic.option else {
            throw .server("\(channel.peer) is not a newstyle NBD server")
        }
        let handshake = HandshakeFlags(rawValue: try channel.readUInt16())
        guard handshake.contains(.fixedNewstyle) else { throw .server("\(channel.peer) does not speak fixed newstyle NBD") }
        var clientFlags: ClientFlags = .fixedNewstyle
        if handshake.contains(.noZeroes) { clientFlags.insert(.noZeroes) }
        var request = WireWriter()
        request.append(clientFlags.rawValue)
        request.append(Magic.option)
        request.append(Option.go.rawValue)
        request.append(UInt32(4 + name.utf8.count + 4))
        request.append(UInt32(name.utf8.count))
        request.append(name.utf8)
        request.append(UInt16(1))  // one information request:
        request.append(InfoType.description.rawValue)
        try channel.write(request.bytes)

        var size: UInt64?
        var flags = TransmissionFlags()
        var description = ""
        while true {
            guard try channel.readUInt64() == Magic.optionReply else { throw .server("\(channel.peer): bad option reply magic") }
            _ = try channel.readUInt32()
            let type = try channel.readUInt32()
            let length = try channel.readUInt32()
            guard length <= ProtocolLimits.optionLengthMaximum else { throw .server("\(channel.peer): option reply of \(length) bytes") }
            let data = try channel.read(Int(length))
            if type == OptionReply.ack.rawValue { break }
            if type & 0x8000_0000 != 0 {
                let reason = type == OptionReply.errorUnknown.rawValue ? "no such export" : "error \(String(type, radix: 16))"
                let text = String(decoding: data, as: UTF8.self)
                throw .server("\(channel.peer) refused export \(name): \(reason)\(text.isEmpty ? "" : ": " + text)")
            }
            guard type == OptionReply.info.rawValue else { continue }
            var reader = WireReader(data)
            switch reader.read(UInt16.self).flatMap(InfoType.init(rawValue:)) {
            case .export:
                guard let exportSize = reader.read(UInt64.self), let exportFlags = reader.read(UInt16.self) else {
                    throw .server("\(channel.peer): a short NBD_INFO_EXPORT")
                }
                size = exportSize
                flags = TransmissionFlags(rawValue: exportFlags)
            case .description:
                description = String(decoding: reader.read(count: reader.remaining) ?? [], as: UTF8.self)
            default:
                continue
            }
        }
        guard let size else { throw .server("\(channel.peer) sent no size for export \(name)") }
        return (size, flags, description)
    }

    private static func connect(host: String, port: UInt16) throws(SealedLayerError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let first = found else {
            throw .server("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }
        var lastError = ECONNREFUSED
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            candidate = address.pointee.ai_next
            let fd = Glibc.socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                lastError = errno
                continue
            }
            if Glibc.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 {
                // Requests are small and latency-bound: do not let Nagle hold them.
                var on: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                return fd
            }
            lastError = errno
            close(fd)
        }
        throw .system("connect to \(host):\(port)", errno: lastError)
    }
}
