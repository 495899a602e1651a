import Synchronization

/// A buffer for one request's data, owned by exactly one request at a time
/// and returned to its pool once the reply is on the wire.
///
/// The data starts on a page boundary (page-aligned buffers halve the
/// kernel's copy cost for large reads), after one page of headroom where the
/// reply header is written just before the data: a READ reply is then a
/// single contiguous `send`, and a WRITE's acknowledgement needs no memory of
/// its own.
// Safety: handed from the reader thread to one task and then to the reply
// channel, never shared; the pool hands it out again only after release.
public struct PayloadBuffer: @unchecked Sendable {
    static let headroom = 4096
    let allocation: UnsafeMutableRawBufferPointer
    let sizeClass: Int

    /// Where request or reply data goes: page-aligned, at least the asked length.
    public var data: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: allocation[Self.headroom...])
    }

    /// The `length` bytes just before the data, for a reply header.
    func header(_ length: Int) -> UnsafeMutableRawPointer {
        allocation.baseAddress! + (Self.headroom - length)
    }
}

/// Recycles payload buffers by power-of-two size class, so steady I/O does no
/// allocation and glibc does not map and unmap large blocks per request.
/// Holds at most `retainedPerClass` idle buffers per class.
public final class BufferPool: Sendable {
    static let smallestClass = 12  // 4 KiB
    static let largestClass = 25  // 32 MiB, the maximum payload
    private let retainedPerClass: Int
    private let free: Mutex<[[UnsafeMutableRawBufferPointer]]>

    public init(retainedPerClass: Int = 16) {
        self.retainedPerClass = retainedPerClass
        let classes = Self.largestClass - Self.smallestClass + 1
        free = Mutex(Array(repeating: [], count: classes))
    }

    deinit {
        free.withLock { lists in
            for list in lists { for buffer in list { buffer.deallocate() } }
        }
    }

    /// A buffer with room for `length` bytes of data (up to the maximum payload).
    public func take(_ length: Int) -> PayloadBuffer {
        var sizeClass = Self.smallestClass
        while (1 << sizeClass) < length { sizeClass += 1 }
        precondition(sizeClass <= Self.largestClass, "a payload of \(length) bytes passed validation")
        let index = sizeClass - Self.smallestClass
        let reused: UnsafeMutableRawBufferPointer? = free.withLock { $0[index].popLast() }
        let allocation =
            reused ?? .allocate(byteCount: PayloadBuffer.headroom + (1 << sizeClass), alignment: 4096)
        return PayloadBuffer(allocation: allocation, sizeClass: sizeClass)
    }

    public func release(_ buffer: PayloadBuffer) {
        let index = buffer.sizeClass - Self.smallestClass
        let kept = free.withLock { lists in
            guard lists[index].count < retainedPerClass else { return false }
            lists[index].append(buffer.allocation)
            return true
        }
        if !kept { buffer.allocation.deallocate() }
    }
}
