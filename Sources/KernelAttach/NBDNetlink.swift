import CNBDKernel
import Glibc

/// The generic netlink family `nbd`: the modern way to configure the kernel's
/// nbd devices, with several sockets, a dead-connection timeout and a backend
/// identifier that lets a restarted daemon reattach (RECONFIGURE).
struct NBDNetlink: ~Copyable {
    private let socket: Int32
    private let family: Int32

    /// Settings of a CONNECT or RECONFIGURE.
    struct Configuration {
        var index: Int32?
        var size: UInt64
        var blockSize: UInt64
        var flags: UInt64
        var deadConnectionTimeout: UInt64
        var identifier: String
        var sockets: [Int32]
    }

    /// Opens the socket and resolves the family; `.moduleNotLoaded` when the
    /// family is absent.
    init() throws(KernelAttachError) {
        var socket: Int32 = -1
        var family: Int32 = -1
        let status = buse_nbd_netlink_open(&socket, &family)
        if status == -ENOENT { throw .moduleNotLoaded }
        guard status == 0 else { throw .system("netlink nbd family", -status) }
        self.socket = socket
        self.family = family
    }

    deinit { close(socket) }

    /// NBD_CMD_CONNECT; returns the index of the device now attached.
    func connect(_ configuration: Configuration) -> Result<Int32, Errno> {
        var index: Int32 = -1
        let status = withConfig(configuration) { buse_nbd_netlink_connect(socket, family, $0, &index) }
        return status == 0 ? .success(index) : .failure(Errno(-status))
    }

    /// NBD_CMD_RECONFIGURE: replaces a device's dead sockets with new ones.
    func reconfigure(_ configuration: Configuration) -> Int32 {
        -withConfig(configuration) { buse_nbd_netlink_reconfigure(socket, family, $0) }
    }

    /// NBD_CMD_DISCONNECT; returns 0 or an errno.
    func disconnect(index: Int32) -> Int32 { -buse_nbd_netlink_disconnect(socket, family, index) }

    /// NBD_CMD_STATUS: whether the device at `index` is connected, or an errno.
    func isConnected(index: Int32) -> Result<Bool, Errno> {
        var connected: Int32 = 0
        let status = buse_nbd_netlink_status(socket, family, index, &connected)
        return status == 0 ? .success(connected != 0) : .failure(Errno(-status))
    }

    private func withConfig(_ c: Configuration, _ body: (UnsafePointer<buse_nbd_config>) -> Int32) -> Int32 {
        c.sockets.withUnsafeBufferPointer { sockets in
            c.identifier.withCString { identifier in
                var config = buse_nbd_config(
                    index: c.index ?? -1, size: c.size, block_size: c.blockSize, server_flags: c.flags, timeout: 0,
                    dead_conn_timeout: c.deadConnectionTimeout, identifier: identifier,
                    sockets: sockets.baseAddress, socket_count: Int32(sockets.count))
                return body(&config)
            }
        }
    }
}

/// A raw errno value from a kernel call.
struct Errno: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
}
