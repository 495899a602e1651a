/// An object's name as librados takes it: NUL-terminated bytes, made once.
///
/// Passing a Swift `String` where C wants `const char *` copies it into a
/// fresh array on every call, and a data object's name built with string
/// concatenation costs three more allocations; every read and write names
/// its objects, so the names are built here straight into their bytes.
struct ObjectName: Sendable {
    /// The name's bytes and a terminating NUL.
    private let bytes: ContiguousArray<CChar>

    init(_ name: String) { bytes = name.utf8CString }

    /// `prefix` followed by `number` in 16 lower-case hex digits (the data
    /// objects' `%016x`; ``ImageLayout/dataObject(_:_:)`` is this, as a String).
    init(prefix: ContiguousArray<CChar>, number: UInt64) {
        let hexDigits = 16
        bytes = ContiguousArray(unsafeUninitializedCapacity: prefix.count + hexDigits + 1) { buffer, count in
            var index = 0
            for byte in prefix {
                buffer[index] = byte
                index += 1
            }
            for shift in stride(from: 60, through: 0, by: -4) {
                let digit = UInt8((number >> UInt64(shift)) & 0xf)
                buffer[index] = CChar(bitPattern: digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
                index += 1
            }
            buffer[index] = 0
            count = index + 1
        }
    }

    /// The name as a C string, valid inside `body` only.
    func withCString<Result>(_ body: (UnsafePointer<CChar>) -> Result) -> Result {
        bytes.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// The name without its NUL, for messages and tests.
    var string: String { String(decoding: bytes.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self) }
}

/// The data objects' names of one image: the prefix is made once.
struct DataObjectNames: Sendable {
    private let prefix: ContiguousArray<CChar>

    init(image: String) {
        prefix = ContiguousArray(ImageLayout.dataPrefix(image).utf8CString.dropLast())  // without the NUL
    }

    func callAsFunction(_ number: UInt64) -> ObjectName { ObjectName(prefix: prefix, number: number) }
}
