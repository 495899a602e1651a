import CLMDB
import Glibc
import Synchronization

/// A thin typed wrapper over an LMDB environment with two databases:
/// `records` (big-endian sequence → ``JournalRecord``) and `meta` (small
/// named values). Write transactions run only on the journal's writer
/// thread; read transactions may run anywhere (MDB_NOTLS).
// Safety: LMDB environments are thread-safe; write transactions are confined
// to one thread by Journal, and read transactions are begun and ended by the
// thread that uses them.
final class LMDBEnvironment: @unchecked Sendable {
    let environment: OpaquePointer
    let records: MDB_dbi
    let meta: MDB_dbi

    /// Opens (creating) the environment in directory `path`. Writes are not
    /// synced at commit (MDB_NOSYNC): the journal syncs when FLUSH or FUA asks.
    init(path: String, mapSize: Int) throws(JournalError) {
        mkdir(path, 0o755)
        var environment: OpaquePointer?
        var status = mdb_env_create(&environment)
        guard status == 0, let environment else { throw JournalError("mdb_env_create", status) }
        mdb_env_set_mapsize(environment, mapSize)
        mdb_env_set_maxdbs(environment, 4)
        status = mdb_env_open(environment, path, UInt32(MDB_NOSYNC | MDB_NOTLS), 0o644)
        guard status == 0 else {
            mdb_env_close(environment)
            throw JournalError("open log \(path)", status)
        }
        self.environment = environment
        var records = MDB_dbi()
        var meta = MDB_dbi()
        var transaction: OpaquePointer?
        status = mdb_txn_begin(environment, nil, 0, &transaction)
        if status == 0 { status = mdb_dbi_open(transaction, "records", UInt32(MDB_CREATE), &records) }
        if status == 0 { status = mdb_dbi_open(transaction, "meta", UInt32(MDB_CREATE), &meta) }
        if status == 0 { status = mdb_txn_commit(transaction) } else { mdb_txn_abort(transaction) }
        guard status == 0 else {
            mdb_env_close(environment)
            throw JournalError("open log databases", status)
        }
        self.records = records
        self.meta = meta
    }

    /// False once closed; held while the environment is used, so closing
    /// waits for a transaction in progress and nothing runs after it.
    private let isOpen = Mutex(true)

    deinit { close() }

    /// Closes the environment (and its files); later calls throw `.closed`.
    func close() {
        isOpen.withLock { open in
            if open { mdb_env_close(environment) }
            open = false
        }
    }

    private func whileOpen<R>(_ body: () throws(JournalError) -> R) throws(JournalError) -> R {
        try isOpen.withLock { (open) throws(JournalError) -> R in
            guard open else { throw JournalError.closed }
            return try body()
        }
    }

    /// Forces everything committed so far onto stable storage.
    func sync() throws(JournalError) {
        try whileOpen { () throws(JournalError) in
            let status = mdb_env_sync(environment, 1)
            guard status == 0 else { throw JournalError("mdb_env_sync", status) }
        }
    }

    /// Runs `body` in a transaction, committing on success.
    func transaction<R>(readOnly: Bool, _ body: (OpaquePointer) throws(JournalError) -> R) throws(JournalError) -> R {
        try whileOpen { () throws(JournalError) -> R in try unguardedTransaction(readOnly: readOnly, body) }
    }

    private func unguardedTransaction<R>(readOnly: Bool, _ body: (OpaquePointer) throws(JournalError) -> R) throws(JournalError) -> R {
        var transaction: OpaquePointer?
        let status = mdb_txn_begin(environment, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &transaction)
        guard status == 0, let transaction else { throw JournalError("mdb_txn_begin", status) }
        let result: R
        do {
            result = try body(transaction)
        } catch {
            mdb_txn_abort(transaction)
            throw error
        }
        if readOnly {
            mdb_txn_abort(transaction)
        } else {
            let committed = mdb_txn_commit(transaction)
            guard committed == 0 else { throw JournalError("mdb_txn_commit", committed) }
        }
        return result
    }

    func put(_ transaction: OpaquePointer, _ database: MDB_dbi, key: [UInt8], value: [UInt8]) throws(JournalError) {
        let status = key.withUnsafeBytes { key in
            value.withUnsafeBytes { value in Self.put(transaction, database, key, value) }
        }
        guard status == 0 else { throw JournalError("mdb_put", status) }
    }

    /// The same from bytes the caller holds: a record's key and value are
    /// encoded on the stack, so logging one allocates nothing.
    func put(
        _ transaction: OpaquePointer, _ database: MDB_dbi, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) throws(JournalError) {
        let status = Self.put(transaction, database, key, value)
        guard status == 0 else { throw JournalError("mdb_put", status) }
    }

    /// mdb_put reads the key and the value and writes neither (no MDB_RESERVE).
    private static func put(
        _ transaction: OpaquePointer, _ database: MDB_dbi, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer
    ) -> Int32 {
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var dataValue = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        return mdb_put(transaction, database, &keyValue, &dataValue, 0)
    }

    func get(_ transaction: OpaquePointer, _ database: MDB_dbi, key: [UInt8]) throws(JournalError) -> [UInt8]? {
        var found: [UInt8]?
        // Read-only access: mdb_get does not write the key, and a mutable
        // view of a shared array would copy it first.
        let status = key.withUnsafeBytes { keyBytes in
            var keyValue = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            var dataValue = MDB_val()
            let status = mdb_get(transaction, database, &keyValue, &dataValue)
            if status == 0 { found = Array(UnsafeRawBufferPointer(start: dataValue.mv_data, count: dataValue.mv_size)) }
            return status
        }
        guard status == 0 || status == MDB_NOTFOUND else { throw JournalError("mdb_get", status) }
        return found
    }

    /// How many entries a database holds (O(1): LMDB keeps the count).
    func count(_ transaction: OpaquePointer, _ database: MDB_dbi) throws(JournalError) -> Int {
        var stat = MDB_stat()
        let status = mdb_stat(transaction, database, &stat)
        guard status == 0 else { throw JournalError("mdb_stat", status) }
        return Int(stat.ms_entries)
    }

    /// Visits entries in key order from `start`; `visit` returns false to
    /// stop, or `.delete` to remove the entry and go on.
    func scan(
        _ transaction: OpaquePointer, _ database: MDB_dbi, from start: [UInt8],
        _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> ScanStep
    ) throws(JournalError) {
        var cursor: OpaquePointer?
        var status = mdb_cursor_open(transaction, database, &cursor)
        guard status == 0 else { throw JournalError("mdb_cursor_open", status) }
        defer { mdb_cursor_close(cursor) }
        var startKey = start
        status = startKey.withUnsafeMutableBytes { bytes in
            var key = MDB_val(mv_size: bytes.count, mv_data: bytes.baseAddress)
            var data = MDB_val()
            var status = mdb_cursor_get(cursor, &key, &data, MDB_SET_RANGE)
            while status == 0 {
                let step = visit(
                    UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                    UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size))
                if step == .stop { return 0 }
                if step == .delete {
                    let deleted = mdb_cursor_del(cursor, 0)
                    if deleted != 0 { return deleted }
                }
                status = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)
            }
            return status == MDB_NOTFOUND ? 0 : status
        }
        guard status == 0 else { throw JournalError("mdb_cursor_get", status) }
    }

    enum ScanStep { case next, delete, stop }

    /// The `meta` key of the highest sequence any record has had.
    static let lastSequenceKey = Array("last-sequence".utf8)
}

extension UInt64 {
    /// Big-endian bytes, so LMDB's byte order is numeric order.
    var keyBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> UInt64(56 - 8 * $0)) } }

    init(keyBytes: UnsafeRawBufferPointer) {
        self = keyBytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
