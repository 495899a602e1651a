// Values from the NBD protocol document (doc/proto.md of the NBD project).
// Spec names are kept beside each Swift name.

/// Magic numbers that open each kind of frame.
public enum Magic {
    /// "NBDMAGIC": the first 8 bytes the server sends.
    public static let server: UInt64 = 0x4e42_444d_4147_4943
    /// "IHAVEOPT": newstyle negotiation, and the prefix of every option.
    public static let option: UInt64 = 0x4948_4156_454F_5054
    /// Prefix of every option reply.
    public static let optionReply: UInt64 = 0x0003_e889_0455_65a9
    /// NBD_REQUEST_MAGIC
    public static let request: UInt32 = 0x2560_9513
    /// NBD_SIMPLE_REPLY_MAGIC
    public static let simpleReply: UInt32 = 0x6744_6698
    /// NBD_STRUCTURED_REPLY_MAGIC
    public static let structuredReply: UInt32 = 0x668e_33ef
}

/// Handshake flags the server sends (16 bits).
public struct HandshakeFlags: OptionSet, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let fixedNewstyle = HandshakeFlags(rawValue: 1 << 0)  // NBD_FLAG_FIXED_NEWSTYLE
    public static let noZeroes = HandshakeFlags(rawValue: 1 << 1)  // NBD_FLAG_NO_ZEROES
}

/// Client flags sent in reply to the greeting (32 bits).
public struct ClientFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let fixedNewstyle = ClientFlags(rawValue: 1 << 0)  // NBD_FLAG_C_FIXED_NEWSTYLE
    public static let noZeroes = ClientFlags(rawValue: 1 << 1)  // NBD_FLAG_C_NO_ZEROES
    public static let known: ClientFlags = [.fixedNewstyle, .noZeroes]
}

/// Options a client may send during negotiation.
public enum Option: UInt32, Sendable {
    case exportName = 1  // NBD_OPT_EXPORT_NAME
    case abort = 2  // NBD_OPT_ABORT
    case list = 3  // NBD_OPT_LIST
    case peekExport = 4  // NBD_OPT_PEEK_EXPORT (withdrawn)
    case startTLS = 5  // NBD_OPT_STARTTLS
    case info = 6  // NBD_OPT_INFO
    case go = 7  // NBD_OPT_GO
    case structuredReply = 8  // NBD_OPT_STRUCTURED_REPLY
    case listMetaContext = 9  // NBD_OPT_LIST_META_CONTEXT
    case setMetaContext = 10  // NBD_OPT_SET_META_CONTEXT
    case extendedHeaders = 11  // NBD_OPT_EXTENDED_HEADERS
}

/// Reply types to options. Errors have bit 31 set.
public enum OptionReply: UInt32, Sendable {
    case ack = 1  // NBD_REP_ACK
    case server = 2  // NBD_REP_SERVER
    case info = 3  // NBD_REP_INFO
    case metaContext = 4  // NBD_REP_META_CONTEXT
    case errorUnsupported = 0x8000_0001  // NBD_REP_ERR_UNSUP
    case errorPolicy = 0x8000_0002  // NBD_REP_ERR_POLICY
    case errorInvalid = 0x8000_0003  // NBD_REP_ERR_INVALID
    case errorPlatform = 0x8000_0004  // NBD_REP_ERR_PLATFORM
    case errorTLSRequired = 0x8000_0005  // NBD_REP_ERR_TLS_REQD
    case errorUnknown = 0x8000_0006  // NBD_REP_ERR_UNKNOWN
    case errorShutdown = 0x8000_0007  // NBD_REP_ERR_SHUTDOWN
    case errorBlockSizeRequired = 0x8000_0008  // NBD_REP_ERR_BLOCK_SIZE_REQD
    case errorTooBig = 0x8000_0009  // NBD_REP_ERR_TOO_BIG
}

/// Information items in NBD_REP_INFO replies.
public enum InfoType: UInt16, Sendable {
    case export = 0  // NBD_INFO_EXPORT
    case name = 1  // NBD_INFO_NAME
    case description = 2  // NBD_INFO_DESCRIPTION
    case blockSize = 3  // NBD_INFO_BLOCK_SIZE
}

/// Per-export flags sent with the export's size (16 bits).
public struct TransmissionFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let hasFlags = TransmissionFlags(rawValue: 1 << 0)  // NBD_FLAG_HAS_FLAGS
    public static let readOnly = TransmissionFlags(rawValue: 1 << 1)  // NBD_FLAG_READ_ONLY
    public static let sendFlush = TransmissionFlags(rawValue: 1 << 2)  // NBD_FLAG_SEND_FLUSH
    public static let sendFUA = TransmissionFlags(rawValue: 1 << 3)  // NBD_FLAG_SEND_FUA
    public static let rotational = TransmissionFlags(rawValue: 1 << 4)  // NBD_FLAG_ROTATIONAL
    public static let sendTrim = TransmissionFlags(rawValue: 1 << 5)  // NBD_FLAG_SEND_TRIM
    public static let sendWriteZeroes = TransmissionFlags(rawValue: 1 << 6)  // NBD_FLAG_SEND_WRITE_ZEROES
    public static let sendDF = TransmissionFlags(rawValue: 1 << 7)  // NBD_FLAG_SEND_DF
    public static let canMultiConn = TransmissionFlags(rawValue: 1 << 8)  // NBD_FLAG_CAN_MULTI_CONN
    public static let sendResize = TransmissionFlags(rawValue: 1 << 9)  // NBD_FLAG_SEND_RESIZE
    public static let sendCache = TransmissionFlags(rawValue: 1 << 10)  // NBD_FLAG_SEND_CACHE
    public static let sendFastZero = TransmissionFlags(rawValue: 1 << 11)  // NBD_FLAG_SEND_FAST_ZERO
}

/// Commands in the transmission phase.
public enum Command: UInt16, Sendable, CustomStringConvertible {
    case read = 0  // NBD_CMD_READ
    case write = 1  // NBD_CMD_WRITE
    case disconnect = 2  // NBD_CMD_DISC
    case flush = 3  // NBD_CMD_FLUSH
    case trim = 4  // NBD_CMD_TRIM
    case cache = 5  // NBD_CMD_CACHE
    case writeZeroes = 6  // NBD_CMD_WRITE_ZEROES
    case blockStatus = 7  // NBD_CMD_BLOCK_STATUS

    public var description: String {
        switch self {
        case .read: "READ"
        case .write: "WRITE"
        case .disconnect: "DISC"
        case .flush: "FLUSH"
        case .trim: "TRIM"
        case .cache: "CACHE"
        case .writeZeroes: "WRITE_ZEROES"
        case .blockStatus: "BLOCK_STATUS"
        }
    }
}

/// Flags on a request (16 bits).
public struct CommandFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let fua = CommandFlags(rawValue: 1 << 0)  // NBD_CMD_FLAG_FUA
    public static let noHole = CommandFlags(rawValue: 1 << 1)  // NBD_CMD_FLAG_NO_HOLE
    public static let dontFragment = CommandFlags(rawValue: 1 << 2)  // NBD_CMD_FLAG_DF
    public static let requestOne = CommandFlags(rawValue: 1 << 3)  // NBD_CMD_FLAG_REQ_ONE
    public static let fastZero = CommandFlags(rawValue: 1 << 4)  // NBD_CMD_FLAG_FAST_ZERO
    public static let known: CommandFlags = [.fua, .noHole, .dontFragment, .requestOne, .fastZero]
}

/// Chunk types of structured replies.
public enum ReplyChunkType: UInt16, Sendable {
    case none = 0  // NBD_REPLY_TYPE_NONE
    case offsetData = 1  // NBD_REPLY_TYPE_OFFSET_DATA
    case offsetHole = 2  // NBD_REPLY_TYPE_OFFSET_HOLE
    case blockStatus = 5  // NBD_REPLY_TYPE_BLOCK_STATUS
    case error = 0x8001  // NBD_REPLY_TYPE_ERROR
    case errorOffset = 0x8002  // NBD_REPLY_TYPE_ERROR_OFFSET
}

/// NBD_REPLY_FLAG_DONE: the last chunk of a structured reply.
public let replyFlagDone: UInt16 = 1 << 0

/// Error values on the wire. These are the NBD protocol's own numbers, which
/// match Linux errno values but are defined by the spec, not by the host.
public enum ErrorCode: UInt32, Sendable, CustomStringConvertible {
    case none = 0
    case permission = 1  // NBD_EPERM
    case io = 5  // NBD_EIO
    case outOfMemory = 12  // NBD_ENOMEM
    case invalid = 22  // NBD_EINVAL
    case noSpace = 28  // NBD_ENOSPC
    case overflow = 75  // NBD_EOVERFLOW
    case notSupported = 95  // NBD_ENOTSUP
    case shutdown = 108  // NBD_ESHUTDOWN

    public var description: String {
        switch self {
        case .none: "success"
        case .permission: "EPERM"
        case .io: "EIO"
        case .outOfMemory: "ENOMEM"
        case .invalid: "EINVAL"
        case .noSpace: "ENOSPC"
        case .overflow: "EOVERFLOW"
        case .notSupported: "ENOTSUP"
        case .shutdown: "ESHUTDOWN"
        }
    }
}

/// The one metadata context buse serves: allocation status of each extent.
public enum MetaContext {
    public static let baseAllocation = "base:allocation"
    /// The id buse gives `base:allocation` when a client selects it.
    public static let baseAllocationID: UInt32 = 1
}

/// Limits of the wire protocol, each with its reason.
public enum ProtocolLimits {
    /// The largest READ or WRITE payload: 32 MiB, what the Linux kernel client
    /// sends at most, advertised as the maximum block size.
    public static let payloadMaximum: UInt32 = 32 * 1024 * 1024
    /// The largest option payload read into memory. Names are at most 4096
    /// bytes and INFO/GO add a few more; anything larger is refused unread.
    public static let optionLengthMaximum: UInt32 = 64 * 1024
    /// An oversized option is drained (so the client can carry on) up to this
    /// size; past it the connection is closed rather than spent on skipping.
    public static let optionDrainMaximum: UInt32 = 16 * 1024 * 1024
    /// NBD spec: strings such as export names are at most 4096 bytes.
    public static let stringMaximum = 4096
    /// Size of a request header on the wire.
    public static let requestHeaderLength = 28
}
