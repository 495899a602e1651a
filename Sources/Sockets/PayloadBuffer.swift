import Synchronization

/// A buffer for one request's or frame's data, owned by exactly one holder at
/// a time and returned to its pool once done with (a reply on the wire, a
/// replicated write applied).
///
/// The data starts on a page boundary (page-aligned buffers halve the
/// kernel's copy cost for large reads), after one page of headroom where a
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
    public func header(_ length: Int) -> UnsafeMutableRawPointer {
        allocation.baseAddress! + (Self.headroom - length)
    }
}

/// Recycles payload buffers by power-of-two size class, so steady I/O does no
/// allocation and glibc does not map and unmap large blocks per request (a
/// fresh 1 MiB allocation per request cost a page fault per 4 KiB: measured,
/// half the throughput of 1 MiB writes, and 40% of a replica's CPU during
/// resync). Holds at most `retainedPerClass` idle buffers per class and, when
/// given, at most `retainedBytesMaximum` idle bytes in all.
public final class BufferPool: Sendable {
    static let smallestClass = 12  // 4 KiB
    static let largestClass = 25  // 32 MiB, the maximum payload
    /// The largest buffer a pool hands out.
    public static let lengthMaximum = 1 << largestClass
    private let retainedPerClass: Int
    private let retainedBytesMaximum: Int
    private let free: Mutex<(lists: [[UnsafeMutableRawBufferPointer]], bytes: Int)>

    public init(retainedPerClass: Int = 16, retainedBytesMaximum: Int = .max) {
        self.retainedPerClass = retainedPerClass
        self.retainedBytesMaximum = retainedBytesMaximum
        let classes = Self.largestClass - Self.smallestClass + 1
        free = Mutex((Array(repeating: [], count: classes), 0))
    }

    deinit {
        free.withLock { free in
            for list in free.lists { for buffer in list { buffer.deallocate() } }
        }
    }

    /// A buffer with room for `length` bytes of data (up to ``lengthMaximum``).
    public func take(_ length: Int) -> PayloadBuffer {
        var sizeClass = Self.smallestClass
        while (1 << sizeClass) < length { sizeClass += 1 }
        precondition(sizeClass <= Self.largestClass, "a payload of \(length) bytes passed validation")
        let index = sizeClass - Self.smallestClass
        let reused = free.withLock { free -> Idle? in
            guard let buffer = free.lists[index].popLast() else { return nil }
            free.bytes -= buffer.count
            return Idle(buffer: buffer)
        }
        let allocation =
            reused?.buffer ?? .allocate(byteCount: PayloadBuffer.headroom + (1 << sizeClass), alignment: 4096)
        return PayloadBuffer(allocation: allocation, sizeClass: sizeClass)
    }

    /// An idle buffer leaving the pool.
    // Safety: a buffer in the pool belongs to no one until taken.
    private struct Idle: @unchecked Sendable { let buffer: UnsafeMutableRawBufferPointer }

    public func release(_ buffer: PayloadBuffer) {
        let index = buffer.sizeClass - Self.smallestClass
        let kept = free.withLock { free in
            guard free.lists[index].count < retainedPerClass,
                free.bytes + buffer.allocation.count <= retainedBytesMaximum
            else { return false }
            free.lists[index].append(buffer.allocation)
            free.bytes += buffer.allocation.count
            return true
        }
        if !kept { buffer.allocation.deallocate() }
    }
}
