/// A failure of the test setup, thrown so the test fails with a sentence a
/// person can act on (a missing tool, a server that never came up).
struct InteropError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
