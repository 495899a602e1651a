import Synchronization

/// Changes to the volume state are made under the `shared` lock and saved
/// after it is released: state.json is fsynced, which takes milliseconds,
/// and every client write takes that lock. The folder numbers the changes,
/// so saves that race cannot let an older state replace a newer one.
extension ReplicatedDevice {
    /// A change to `volume`, numbered in the order changes were made.
    struct VolumeChange {
        let state: VolumeState
        let version: UInt64
    }

    /// Makes `change` durable (it is in memory already): when this returns,
    /// state.json holds it or a newer change.
    func persist(_ change: VolumeChange) throws(ReplicationError) {
        try folder.save(change.state, version: change.version)
        shared.withLock { $0.volumeVersionSaved = max($0.volumeVersionSaved, change.version) }
    }
}

extension ReplicatedDevice.Shared {
    /// Numbers the change just made to `volume`, for ``ReplicatedDevice/persist(_:)``.
    mutating func volumeChanged(_ folder: NodeFolder) -> ReplicatedDevice.VolumeChange {
        volumeVersion = folder.nextVersion()
        return ReplicatedDevice.VolumeChange(state: volume, version: volumeVersion)
    }

    /// The latest change, if it may not be on disk yet (its save is still
    /// running, or failed).
    var unsavedVolume: ReplicatedDevice.VolumeChange? {
        volumeVersionSaved < volumeVersion ? ReplicatedDevice.VolumeChange(state: volume, version: volumeVersion) : nil
    }
}
