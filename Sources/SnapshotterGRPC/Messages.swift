import SnapshotterAPI
import SnapshotterCore
import SwiftProtobuf

extension Containerd_Types_Mount {
    init(_ mount: SnapshotMount) {
        self.init()
        type = mount.type
        source = mount.source
        options = mount.options
    }
}

extension Containerd_Services_Snapshots_V1_Info {
    init(_ snapshot: Snapshot) {
        self.init()
        name = snapshot.key
        parent = snapshot.parent ?? ""
        kind =
            switch snapshot.kind {
            case .view: .view
            case .active: .active
            case .committed: .committed
            }
        createdAt = Google_Protobuf_Timestamp(seconds: snapshot.created.seconds, nanos: snapshot.created.nanoseconds)
        updatedAt = Google_Protobuf_Timestamp(seconds: snapshot.updated.seconds, nanos: snapshot.updated.nanoseconds)
        labels = snapshot.labels
    }
}
