/// One member of a layer tar, as the differ describes it before encoding.
/// Paths are raw bytes relative to the layer's root, without `./` and
/// without a directory's trailing `/` (``TarHeader`` adds it).
public struct TarEntry: Sendable, Hashable {
    /// The USTAR type flags a layer uses.
    public enum Kind: UInt8, Sendable, Hashable {
        case regular = 0x30  // '0' REGTYPE
        case hardLink = 0x31  // '1' LNKTYPE
        case symbolicLink = 0x32  // '2' SYMTYPE
        case characterDevice = 0x33  // '3' CHRTYPE
        case blockDevice = 0x34  // '4' BLKTYPE
        case directory = 0x35  // '5' DIRTYPE
        case fifo = 0x36  // '6' FIFOTYPE
    }

    /// An extended attribute, carried as a PAX `SCHILY.xattr.NAME` record.
    public struct Attribute: Sendable, Hashable {
        public var name: [UInt8]
        public var value: [UInt8]

        public init(name: [UInt8], value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    public var path: [UInt8]
    public var kind: Kind
    /// Permission bits with setuid, setgid and sticky (`st_mode & 07777`).
    public var mode: UInt32
    public var uid: UInt64
    public var gid: UInt64
    /// Bytes of content that follow the header: a regular file's size, else 0.
    public var size: UInt64
    /// Whole seconds since the epoch, as containerd's differ writes them.
    public var modificationTime: Int64
    /// A symbolic link's target, or the path a hard link names.
    public var linkTarget: [UInt8]
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// In name order.
    public var attributes: [Attribute]

    public init(
        path: [UInt8], kind: Kind, mode: UInt32 = 0, uid: UInt64 = 0, gid: UInt64 = 0, size: UInt64 = 0,
        modificationTime: Int64 = 0, linkTarget: [UInt8] = [], deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0,
        attributes: [Attribute] = []
    ) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.modificationTime = modificationTime
        self.linkTarget = linkTarget
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.attributes = attributes
    }
}
