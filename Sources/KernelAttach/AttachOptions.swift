/// How to attach a device to the kernel.
public struct AttachOptions: Sendable {
    /// The device to use; nil picks a free one.
    public var device: NBDDeviceNode?
    /// Use the NBD_SET_SOCK/NBD_DO_IT ioctls instead of netlink.
    public var useIoctl = false
    /// Sockets handed to the kernel (several only when the export is multi-conn safe).
    public var connections = 1
    /// The logical block size the kernel uses: a power of two from 512 to 4096.
    public var blockSize: UInt32 = 4096
    /// Seconds the kernel holds I/O while no socket is alive, waiting for a
    /// reattach (netlink only). 0 fails I/O at once when the daemon dies.
    public var deadConnectionTimeout: UInt64 = 120
    /// The device URI, recorded and used as the backend identifier.
    public var uri: String

    public init(uri: String) { self.uri = uri }
}
