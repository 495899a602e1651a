import NBDProtocol

/// What one fuzzing connection sends and what the server must answer,
/// decided before the connection is made, so that a seed reproduces it.
struct ConnectionScript {
    var handshake: [HandshakeStep] = []
    /// Present when the handshake ends in transmission.
    var transmission: TransmissionScript?

    /// Frames that break the protocol or ask for something refused.
    var malformedFrames: Int {
        handshake.filter(\.isMalformed).count + (transmission?.malformedFrames ?? 0)
    }

    var summary: String {
        (handshake.map(\.label) + (transmission?.labels ?? [])).joined(separator: ", ")
    }
}

/// Bytes to send: literal, or a run of one byte too long to keep in memory
/// for every script (oversized option payloads).
enum Chunk {
    case bytes([UInt8])
    case filler(count: Int, byte: UInt8)
}

struct HandshakeStep {
    var label: String
    var send: [Chunk]
    var isMalformed: Bool
    var expect: HandshakeExpectation
}

enum HandshakeExpectation {
    /// Nothing is answered yet (the client flags).
    case nothing
    /// Replies to `option`, none an error but the last, the last of type `final`.
    case replies(option: UInt32, final: OptionReply)
    /// NBD_REP_ACK to ABORT, then a close.
    case ackThenClose(option: UInt32)
    /// The server closes without a word (we keep writing open).
    case close
    /// We stop writing; the server must close without a word.
    case closeAfterWeStopWriting
    /// We stop writing; the server may answer anything, then must close.
    case anythingThenClose
    /// We close abruptly; nothing can be checked but the server's survival.
    case abandon
    /// GO succeeds (INFO replies, then ACK): transmission follows.
    case go
    /// EXPORT_NAME succeeds: size, flags and, without NO_ZEROES, 124 zeros.
    case exportName(zeroes: Bool)
}

/// The session a script's transmission phase runs in.
struct FuzzSession {
    var structured: Bool
    var baseAllocation: Bool
    var export: FuzzExport
}

struct TransmissionScript {
    var session: FuzzSession
    var requests: [FuzzRequest] = []
    var ending: Ending

    enum Ending {
        /// NBD_CMD_DISC, then bytes a client must not send (maybe none).
        case disconnect(junk: [UInt8])
        /// Bytes after which the server must close without replying to them,
        /// once it has answered the requests before.
        case fatal(label: String, bytes: [UInt8], stopWriting: Bool)
        /// The client closes without reading anything.
        case abandon
    }

    var malformedFrames: Int {
        requests.filter { $0.expected.error != nil }.count
            + {
                switch ending {
                case let .disconnect(junk): junk.isEmpty ? 0 : 1
                case .fatal: 1
                case .abandon: 0
                }
            }()
    }

    var labels: [String] {
        requests.map(\.label) + [
            {
                switch ending {
                case let .disconnect(junk): junk.isEmpty ? "DISC" : "DISC+\(junk.count) junk bytes"
                case let .fatal(label, _, _): label
                case .abandon: "abandon"
                }
            }()
        ]
    }
}

/// One request, the payload sent after it, and the reply it must get.
struct FuzzRequest {
    var request: Request
    var payload: [UInt8]
    var expected: ExpectedReply

    var label: String {
        let command = request.command.map(String.init(describing:)) ?? "type \(request.type)"
        let flags = request.flags.isEmpty ? "" : " flags 0x\(String(request.flags.rawValue, radix: 16))"
        return "\(command)\(flags) \(request.length)@\(request.offset) → \(expected.error.map(String.init(describing:)) ?? "ok")"
    }
}

struct ExpectedReply {
    enum Form: Equatable {
        case simple
        case simpleData(Int)
        case offsetData(Int)
        case errorChunk
        case blockStatus
    }

    var error: ErrorCode?
    var form: Form
}
