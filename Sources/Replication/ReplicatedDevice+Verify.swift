import BlockDevices
import Journal

extension ReplicatedDevice {
    public struct VerifyReport: Sendable, Codable, Equatable {
        public var checkedBytes: UInt64 = 0
        /// Chunks whose checksums differed, in order.
        public var mismatches: [[UInt64]] = []
        /// Whether the mismatches were copied from this node to the peer.
        public var repaired = false
    }

    /// Compares CRC-32C checksums of the whole volume, chunk by chunk, with
    /// the peer's while clients keep writing: each chunk is read on both
    /// sides under the range lock, so no write to it is half-applied. With
    /// `repair`, a differing chunk is copied to the peer at once.
    public func verify(
        repair: Bool, progress: @Sendable (UInt64, UInt64) -> Void = { _, _ in }
    ) async throws(ReplicationError) -> VerifyReport {
        guard
            let link = shared.withLock({ shared -> PeerLink? in
                if case let .inSync(link) = shared.pairing.state { return link }
                return nil
            })
        else {
            throw .linkLost("verify needs the peer connected and in sync; see `buse status`")
        }
        var report = VerifyReport(repaired: repair)
        let size = lower.size
        let chunk = UInt64(options.chunkLength)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(chunk), alignment: 4096)
        defer { buffer.deallocate() }
        var offset: UInt64 = 0
        while offset < size {
            let range = offset..<min(offset + chunk, size)
            let ticket = await rangeLock.lock(range)
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[..<range.count])
            do {
                try await lower.read(into: piece, at: range.lowerBound)
            } catch {
                rangeLock.release(ticket)
                throw .device(error)
            }
            let local = CRC32C.checksum(UnsafeRawBufferPointer(piece))
            let asked = FrameHeader(.checksumRequest, tag: link.makeTag(), offset: range.lowerBound, length: UInt32(range.count))
            let answer = await link.request(asked)
            var failure: ReplicationError?
            switch answer {
            case let .success(.checksum(remote)) where remote != local:
                report.mismatches.append([range.lowerBound, range.upperBound])
                logger.warning("verify: \(range) differs (here \(local), peer \(remote))")
                if repair {
                    let header = FrameHeader(
                        .resyncData, tag: link.makeTag(), offset: range.lowerBound, length: UInt32(range.count),
                        checksum: local, payloadLength: UInt32(range.count))
                    if case let .failure(error) = await link.request(header, data: UnsafeRawBufferPointer(piece)) { failure = error }
                }
            case .success(.checksum): break
            case let .failure(error): failure = error
            case .success: failure = .malformed("the peer answered a checksum request with something else")
            }
            rangeLock.release(ticket)
            if let failure { throw failure }
            report.checkedBytes = range.upperBound
            progress(range.upperBound, size)
            offset = range.upperBound
        }
        if repair, !report.mismatches.isEmpty {
            if case let .failure(error) = await link.request(FrameHeader(.flush, tag: link.makeTag())) { throw error }
        }
        return report
    }
}
