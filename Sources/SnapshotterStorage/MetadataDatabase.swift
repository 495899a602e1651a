import CLMDB
import Glibc

/// A small typed wrapper over one LMDB environment with two databases:
/// `snapshots` (snapshot key → encoded ``Snapshot``) and `meta` (the next
/// directory id). Every state change is one write transaction, committed
/// with LMDB's default durability (synced at commit), so a crash leaves
/// either the state before a call or the state after it.
// Safety: the environment is thread-safe with MDB_NOTLS; SnapshotStore
// serialises every transaction under its own lock.
final class MetadataDatabase: @unchecked Sendable {
    private let environment: OpaquePointer
    private let snapshots: MDB_dbi
    private let meta: MDB_dbi

    /// `readOnly` opens an existing database for reading only, beside a
    /// running snapshotter (LMDB allows readers in other processes).
    init(path: String, mapSize: Int, readOnly: Bool = false) throws(SnapshotStoreError) {
        if !readOnly && mkdir(path, 0o755) != 0 && errno != EEXIST { throw SnapshotStoreError("create \(path)", errno: errno) }
        var environment: OpaquePointer?
        var status = mdb_env_create(&environment)
        guard status == 0, let environment else { throw Self.error("mdb_env_create", status) }
        mdb_env_set_mapsize(environment, mapSize)
        mdb_env_set_maxdbs(environment, 2)
        status = mdb_env_open(environment, path, UInt32(MDB_NOTLS) | (readOnly ? UInt32(MDB_RDONLY) : 0), 0o644)
        guard status == 0 else {
            mdb_env_close(environment)
            throw Self.error("open metadata \(path)", status)
        }
        self.environment = environment
        var snapshots = MDB_dbi()
        var meta = MDB_dbi()
        var transaction: OpaquePointer?
        let create = readOnly ? 0 : UInt32(MDB_CREATE)
        status = mdb_txn_begin(environment, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &transaction)
        if status == 0 { status = mdb_dbi_open(transaction, "snapshots", create, &snapshots) }
        if status == 0 { status = mdb_dbi_open(transaction, "meta", create, &meta) }
        if status == 0 { status = mdb_txn_commit(transaction) } else { mdb_txn_abort(transaction) }
        guard status == 0 else {
            mdb_env_close(environment)
            throw Self.error("open metadata databases", status)
        }
        self.snapshots = snapshots
        self.meta = meta
    }

    deinit { mdb_env_close(environment) }

    static func error(_ what: String, _ status: Int32) -> SnapshotStoreError {
        let text = "\(what): \(String(cString: mdb_strerror(status)))"
        return status == MDB_MAP_FULL || status == ENOSPC ? .noSpace(text) : .io(text)
    }

    /// Runs `body` in one transaction; a write transaction commits only if
    /// `body` returns, and is aborted (changing nothing) if it throws.
    func transaction<R>(
        readOnly: Bool, _ body: (Transaction) throws(SnapshotStoreError) -> R
    ) throws(SnapshotStoreError) -> R {
        var handle: OpaquePointer?
        let status = mdb_txn_begin(environment, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &handle)
        guard status == 0, let handle else { throw Self.error("mdb_txn_begin", status) }
        let result: R
        do {
            result = try body(Transaction(handle: handle, snapshots: snapshots, meta: meta))
        } catch {
            mdb_txn_abort(handle)
            throw error
        }
        if readOnly {
            mdb_txn_abort(handle)
        } else {
            let committed = mdb_txn_commit(handle)
            guard committed == 0 else { throw Self.error("mdb_txn_commit", committed) }
        }
        return result
    }

    /// One transaction's operations, valid only inside ``transaction(readOnly:_:)``.
    struct Transaction {
        let handle: OpaquePointer
        let snapshots: MDB_dbi
        let meta: MDB_dbi

        func get(_ database: MDB_dbi, _ key: [UInt8]) throws(SnapshotStoreError) -> [UInt8]? {
            var key = key
            var found: [UInt8]?
            let status = key.withUnsafeMutableBytes { keyBytes in
                var keyValue = MDB_val(mv_size: keyBytes.count, mv_data: keyBytes.baseAddress)
                var dataValue = MDB_val()
                let status = mdb_get(handle, database, &keyValue, &dataValue)
                if status == 0 { found = Array(UnsafeRawBufferPointer(start: dataValue.mv_data, count: dataValue.mv_size)) }
                return status
            }
            guard status == 0 || status == MDB_NOTFOUND else { throw MetadataDatabase.error("mdb_get", status) }
            return found
        }

        func put(_ database: MDB_dbi, _ key: [UInt8], _ value: [UInt8]) throws(SnapshotStoreError) {
            var key = key
            var value = value
            let status = key.withUnsafeMutableBytes { keyBytes in
                value.withUnsafeMutableBytes { valueBytes in
                    var keyValue = MDB_val(mv_size: keyBytes.count, mv_data: keyBytes.baseAddress)
                    var dataValue = MDB_val(mv_size: valueBytes.count, mv_data: valueBytes.baseAddress)
                    return mdb_put(handle, database, &keyValue, &dataValue, 0)
                }
            }
            guard status == 0 else { throw MetadataDatabase.error("mdb_put", status) }
        }

        func delete(_ database: MDB_dbi, _ key: [UInt8]) throws(SnapshotStoreError) {
            var key = key
            let status = key.withUnsafeMutableBytes { keyBytes in
                var keyValue = MDB_val(mv_size: keyBytes.count, mv_data: keyBytes.baseAddress)
                return mdb_del(handle, database, &keyValue, nil)
            }
            guard status == 0 || status == MDB_NOTFOUND else { throw MetadataDatabase.error("mdb_del", status) }
        }

        /// Every value of `database`, in key order.
        func values(_ database: MDB_dbi) throws(SnapshotStoreError) -> [[UInt8]] {
            var cursor: OpaquePointer?
            var status = mdb_cursor_open(handle, database, &cursor)
            guard status == 0 else { throw MetadataDatabase.error("mdb_cursor_open", status) }
            defer { mdb_cursor_close(cursor) }
            var result: [[UInt8]] = []
            var key = MDB_val()
            var data = MDB_val()
            status = mdb_cursor_get(cursor, &key, &data, MDB_FIRST)
            while status == 0 {
                result.append(Array(UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size)))
                status = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)
            }
            guard status == MDB_NOTFOUND else { throw MetadataDatabase.error("mdb_cursor_get", status) }
            return result
        }
    }
}
