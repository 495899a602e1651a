public import Foundation

/// Whether two byte sequences are equal, compared with memcmp.
///
/// For megabytes: `==` on arrays or `Data` inside `#expect` walks them a
/// byte at a time in a debug build, and a 24 MiB comparison held one of the
/// cooperative pool's two threads for most of a minute under the full
/// suite, stalling every other test's tasks with it.
public func sameBytes(_ first: some ContiguousBytes, _ second: some ContiguousBytes) -> Bool {
    first.withUnsafeBytes { first in
        second.withUnsafeBytes { second in
            first.count == second.count && (first.isEmpty || memcmp(first.baseAddress!, second.baseAddress!, first.count) == 0)
        }
    }
}
