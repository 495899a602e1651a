public import GRPCCore
public import SnapshotterAPI
import SnapshotterCore
import SnapshotterStorage
public import SwiftProtobuf

/// containerd's snapshot service over a ``SnapshotStore``. It only
/// translates: messages to storage calls (run on the storage thread) and
/// storage errors to the gRPC codes containerd maps back (``RPCError/init(_:)``).
/// The `snapshotter` field of each request is ignored: one process serves one
/// snapshotter.
public struct SnapshotService: Containerd_Services_Snapshots_V1_Snapshots.SimpleServiceProtocol {
    private let store: SnapshotStore
    private let thread: StorageThread

    init(store: SnapshotStore, thread: StorageThread) {
        self.store = store
        self.thread = thread
    }

    private func call<R: Sendable>(_ body: @escaping @Sendable (SnapshotStore) throws(SnapshotStoreError) -> R) async throws -> R {
        let store = store
        do {
            return try await thread.run { () throws(SnapshotStoreError) -> R in try body(store) }
        } catch {
            throw RPCError(error)
        }
    }

    public func prepare(
        request: Containerd_Services_Snapshots_V1_PrepareSnapshotRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_PrepareSnapshotResponse {
        let mounts = try await call { store throws(SnapshotStoreError) in
            try store.create(kind: .active, key: request.key, parent: request.parent, labels: request.labels)
        }
        return .with { $0.mounts = mounts.map(Containerd_Types_Mount.init) }
    }

    public func view(
        request: Containerd_Services_Snapshots_V1_ViewSnapshotRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_ViewSnapshotResponse {
        let mounts = try await call { store throws(SnapshotStoreError) in
            try store.create(kind: .view, key: request.key, parent: request.parent, labels: request.labels)
        }
        return .with { $0.mounts = mounts.map(Containerd_Types_Mount.init) }
    }

    public func mounts(
        request: Containerd_Services_Snapshots_V1_MountsRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_MountsResponse {
        let mounts = try await call { store throws(SnapshotStoreError) in try store.mounts(key: request.key) }
        return .with { $0.mounts = mounts.map(Containerd_Types_Mount.init) }
    }

    public func commit(
        request: Containerd_Services_Snapshots_V1_CommitSnapshotRequest, context: ServerContext
    ) async throws -> Google_Protobuf_Empty {
        try await call { store throws(SnapshotStoreError) in
            try store.commit(name: request.name, key: request.key, labels: request.labels)
        }
        return Google_Protobuf_Empty()
    }

    public func remove(
        request: Containerd_Services_Snapshots_V1_RemoveSnapshotRequest, context: ServerContext
    ) async throws -> Google_Protobuf_Empty {
        try await call { store throws(SnapshotStoreError) in try store.remove(key: request.key) }
        return Google_Protobuf_Empty()
    }

    public func stat(
        request: Containerd_Services_Snapshots_V1_StatSnapshotRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_StatSnapshotResponse {
        let snapshot = try await call { store throws(SnapshotStoreError) in try store.stat(key: request.key) }
        return .with { $0.info = .init(snapshot) }
    }

    /// Update names the fields to change in `update_mask`; only labels are mutable.
    public func update(
        request: Containerd_Services_Snapshots_V1_UpdateSnapshotRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_UpdateSnapshotResponse {
        let snapshot = try await call { store throws(SnapshotStoreError) in
            try store.update(key: request.info.name, labels: request.info.labels, paths: request.updateMask.paths)
        }
        return .with { $0.info = .init(snapshot) }
    }

    /// List streams the snapshots any filter matches, in batches (containerd's
    /// own service sends 100 per message).
    public func list(
        request: Containerd_Services_Snapshots_V1_ListSnapshotsRequest,
        response: RPCWriter<Containerd_Services_Snapshots_V1_ListSnapshotsResponse>, context: ServerContext
    ) async throws {
        let filters: [SnapshotFilter]
        do {
            filters = try request.filters.map { (text) throws(SnapshotError) in try SnapshotFilter(parsing: text) }
        } catch {
            throw RPCError(SnapshotStoreError.refused(error))
        }
        let snapshots = try await call { store throws(SnapshotStoreError) in try store.list(filters: filters) }
        var start = 0
        repeat {
            let batch = snapshots[start..<min(start + 100, snapshots.count)]
            try await response.write(.with { $0.info = batch.map(Containerd_Services_Snapshots_V1_Info.init) })
            start += 100
        } while start < snapshots.count
    }

    public func usage(
        request: Containerd_Services_Snapshots_V1_UsageRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_UsageResponse {
        let usage = try await call { store throws(SnapshotStoreError) in try store.usage(key: request.key) }
        return .with {
            $0.size = usage.size
            $0.inodes = usage.inodes
        }
    }

    public func cleanup(
        request: Containerd_Services_Snapshots_V1_CleanupRequest, context: ServerContext
    ) async throws -> Google_Protobuf_Empty {
        _ = try await call { store throws(SnapshotStoreError) in try store.cleanup() }
        return Google_Protobuf_Empty()
    }
}
