import NBDProtocol
import Testing

/// One test per rule of ``RequestValidation``, in the order its doc comment
/// lists them, plus the orderings between rules that clients can observe.
@Suite("Request validation")
struct RequestValidationTests {
    static let size: UInt64 = 0x10_0000
    static let everything: TransmissionFlags = [.sendFlush, .sendFUA, .sendTrim, .sendWriteZeroes, .sendCache, .sendFastZero, .sendDF]

    static func validation(
        flags: TransmissionFlags = everything, size: UInt64 = size, structured: Bool = true, baseAllocation: Bool = true
    ) -> RequestValidation {
        RequestValidation(
            session: NegotiatedSession(
                export: ExportDescription(name: "disk", size: size, flags: flags),
                structuredReplies: structured, baseAllocation: baseAllocation))
    }

    static let writable = validation()
    static let readOnly = validation(flags: [.readOnly, .sendFlush, .sendCache])

    static func error(_ validation: RequestValidation, _ request: Request) -> ErrorCode? {
        validation.check(request)?.error
    }

    @Test func aWellFormedRequestOfEachCommandPasses() {
        let requests = [
            Request(.read, flags: .dontFragment, cookie: 1, offset: 0, length: 4096),
            Request(.write, flags: .fua, cookie: 2, offset: Self.size - 512, length: 512),
            Request(.flush, cookie: 3),
            Request(.trim, cookie: 4, offset: 0, length: UInt32(Self.size)),
            Request(.writeZeroes, flags: [.noHole, .fastZero, .fua], cookie: 5, offset: 4096, length: 4096),
            Request(.cache, cookie: 6, offset: 0, length: 1),
            Request(.blockStatus, flags: .requestOne, cookie: 7, offset: 0, length: 65536),
        ]
        for request in requests {
            #expect(Self.writable.check(request) == nil, "\(request)")
        }
    }

    // Rule 1: write-like commands on a read-only export are EPERM, before anything else.

    @Test(arguments: [Command.write, .trim, .writeZeroes])
    func writesOnAReadOnlyExportAreEPERMEvenWhenAlsoPastTheEndWithBadFlags(command: Command) {
        #expect(Self.error(Self.readOnly, Request(command, cookie: 1, offset: 0, length: 512)) == .permission)
        let awful = Request(command, flags: CommandFlags(rawValue: 0xffff), cookie: 1, offset: .max, length: .max)
        #expect(Self.error(Self.readOnly, awful) == .permission)
    }

    @Test func readsOnAReadOnlyExportPass() {
        #expect(Self.readOnly.check(Request(.read, cookie: 1, offset: 0, length: 512)) == nil)
    }

    // Rule 2: unknown commands.

    @Test(arguments: [UInt16(8), 9, 0x00ff, 0xffff])
    func unknownCommandsAreEINVAL(type: UInt16) {
        #expect(Self.error(Self.writable, Request(type: type, flags: [], cookie: 1, offset: 0, length: 0)) == .invalid)
    }

    // Rule 3: ranges.

    @Test(arguments: [Command.write, .writeZeroes])
    func storingPastTheEndIsENOSPC(command: Command) {
        #expect(Self.error(Self.writable, Request(command, cookie: 1, offset: Self.size - 511, length: 512)) == .noSpace)
        #expect(Self.error(Self.writable, Request(command, cookie: 1, offset: Self.size, length: 1)) == .noSpace)
    }

    @Test(arguments: [Command.read, .trim, .cache, .blockStatus])
    func otherCommandsPastTheEndAreEINVAL(command: Command) {
        #expect(Self.error(Self.writable, Request(command, cookie: 1, offset: Self.size - 511, length: 512)) == .invalid)
    }

    @Test(arguments: [Command.read, .write, .trim, .writeZeroes, .cache, .blockStatus])
    func anOffsetThatOverflowsWhenAddedToTheLengthIsPastTheEnd(command: Command) {
        let expected: ErrorCode = (command == .write || command == .writeZeroes) ? .noSpace : .invalid
        #expect(Self.error(Self.writable, Request(command, cookie: 1, offset: .max - 10, length: 4096)) == expected)
    }

    @Test(arguments: [Command.read, .write, .trim, .writeZeroes, .cache])
    func aRangeEndingExactlyAtTheEndPasses(command: Command) {
        #expect(Self.writable.check(Request(command, cookie: 1, offset: Self.size - 4096, length: 4096)) == nil)
    }

    /// An empty range gives a device nothing to do and a READ nothing to
    /// send; like nbdkit, buse counts it as out of range.
    @Test(arguments: [Command.read, .trim, .cache, .blockStatus])
    func anEmptyRangeIsEINVAL(command: Command) {
        #expect(Self.error(Self.writable, Request(command, cookie: 1, offset: 0, length: 0)) == .invalid)
        #expect(Self.error(Self.writable, Request(command, cookie: 1, offset: Self.size, length: 0)) == .invalid)
    }

    @Test(arguments: [Command.write, .writeZeroes])
    func anEmptyWriteOrZeroIsENOSPCLikeAnyOutOfRangeWrite(command: Command) {
        #expect(Self.error(Self.writable, Request(command, cookie: 1, offset: 0, length: 0)) == .noSpace)
    }

    @Test(arguments: [(UInt64(1), UInt32(0)), (0, 1), (4096, 4096)])
    func flushWithANonzeroOffsetOrLengthIsEINVAL(offset: UInt64, length: UInt32) {
        #expect(Self.error(Self.writable, Request(.flush, cookie: 1, offset: offset, length: length)) == .invalid)
    }

    // Rule 4: flags.

    @Test(arguments: [UInt16(1 << 5), 1 << 8, 1 << 15])
    func unknownFlagsAreEINVAL(bits: UInt16) {
        let request = Request(type: Command.read.rawValue, flags: CommandFlags(rawValue: bits), cookie: 1, offset: 0, length: 1)
        #expect(Self.error(Self.writable, request) == .invalid)
    }

    @Test(arguments: [
        (CommandFlags.noHole, Command.write), (.noHole, .read), (.noHole, .trim),
        (.fastZero, .write), (.fastZero, .trim),
        (.dontFragment, .write), (.dontFragment, .blockStatus),
        (.requestOne, .read), (.requestOne, .write),
    ])
    func flagsOnCommandsTheyDoNotApplyToAreEINVAL(flag: CommandFlags, command: Command) {
        #expect(Self.error(Self.writable, Request(command, flags: flag, cookie: 1, offset: 0, length: 512)) == .invalid)
    }

    @Test func dfWithoutStructuredRepliesIsEINVAL() {
        let simple = Self.validation(flags: [.sendFlush], structured: false, baseAllocation: false)
        #expect(Self.error(simple, Request(.read, flags: .dontFragment, cookie: 1, offset: 0, length: 512)) == .invalid)
        #expect(simple.check(Request(.read, cookie: 1, offset: 0, length: 512)) == nil)
    }

    @Test func fuaWithoutSendFUAIsEINVAL() {
        let noFUA = Self.validation(flags: [.sendFlush])
        #expect(Self.error(noFUA, Request(.write, flags: .fua, cookie: 1, offset: 0, length: 512)) == .invalid)
    }

    /// The spec lets FUA ride on any command once SEND_FUA is advertised.
    @Test func fuaOnAReadIsAcceptedWhenAdvertised() {
        #expect(Self.writable.check(Request(.read, flags: .fua, cookie: 1, offset: 0, length: 512)) == nil)
    }

    // Rule 5: payload limits.

    @Test(arguments: [Command.read, .write])
    func aReadOrWriteOverTheMaximumPayloadIsEINVAL(command: Command) {
        let huge = Self.validation(size: 1 << 40)
        let over = Request(command, cookie: 1, offset: 0, length: ProtocolLimits.payloadMaximum + 1)
        #expect(Self.error(huge, over) == .invalid)
        #expect(huge.check(Request(command, cookie: 1, offset: 0, length: ProtocolLimits.payloadMaximum)) == nil)
    }

    @Test func trimLongerThanTheMaximumPayloadPassesSinceItCarriesNoData() {
        let huge = Self.validation(size: 1 << 40)
        #expect(huge.check(Request(.trim, cookie: 1, offset: 0, length: .max)) == nil)
    }

    // Rule 6: commands the export did not advertise.

    @Test(arguments: [
        (Command.flush, TransmissionFlags.sendFlush), (.trim, .sendTrim), (.writeZeroes, .sendWriteZeroes), (.cache, .sendCache),
    ])
    func anUnadvertisedCommandIsEINVAL(command: Command, flag: TransmissionFlags) {
        let without = Self.validation(flags: Self.everything.subtracting(flag))
        let length: UInt32 = command == .flush ? 0 : 512
        #expect(Self.error(without, Request(command, cookie: 1, offset: 0, length: length)) == .invalid)
    }

    // Rule 7: BLOCK_STATUS needs structured replies and base:allocation.

    @Test(arguments: [(false, false), (true, false), (false, true)])
    func blockStatusWithoutStructuredRepliesAndBaseAllocationIsEINVAL(structured: Bool, baseAllocation: Bool) {
        let session = Self.validation(structured: structured, baseAllocation: baseAllocation)
        #expect(Self.error(session, Request(.blockStatus, cookie: 1, offset: 0, length: 512)) == .invalid)
    }

    // Orderings a client can tell apart.

    @Test func pastTheEndIsReportedBeforeBadFlags() {
        let request = Request(.write, flags: .requestOne, cookie: 1, offset: Self.size, length: 512)
        #expect(Self.error(Self.writable, request) == .noSpace)
    }

    @Test func anOversizedWriteOnASmallExportIsENOSPCBecauseTheRangeIsCheckedFirst() {
        let request = Request(.write, cookie: 1, offset: 0, length: ProtocolLimits.payloadMaximum + 1)
        #expect(Self.error(Self.writable, request) == .noSpace)
    }
}
