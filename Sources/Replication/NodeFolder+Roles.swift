extension NodeFolder {
    /// Makes this stopped secondary the primary (failover): a new
    /// generation, so the old primary is told it is behind when it returns;
    /// the regions it was writing when it stopped are marked for that
    /// rejoining resync. A copy whose resync did not finish is refused
    /// unless `force`.
    public func promote(
        force: Bool, journalSettings: JournalSettings = JournalSettings()
    ) async throws(ReplicationError) -> (old: UInt64, new: VolumeState) {
        guard var volume = try loadState() else { throw .state("\(path) holds no replicated volume (no state.json)") }
        guard volume.role == .secondary else { throw .state("\(path) is already a primary") }
        guard volume.volumeID != 0 else { throw .state("\(path) has never received a volume: nothing to promote") }
        guard volume.consistent || force else {
            throw .state("\(path) was in the middle of a resync: its copy mixes old and new data; use --force to promote it anyway")
        }
        let journal = try openJournal(volumeSize: volume.size, settings: journalSettings)
        do {
            let activity = try ActivityLog(journal: journal)
            try await journal.markDirty(activity.activeRanges)
            try await journal.close()
        } catch {
            throw .journal(error)
        }
        var random = SystemRandomNumberGenerator()
        let old = volume.generation
        volume.role = .primary
        volume.peerGeneration = old
        volume.startGeneration(&random)
        try save(volume)
        return (old, volume)
    }

    /// Resolves a split brain by giving up this node's copy: it becomes a
    /// new secondary, to which the primary sends the whole volume.
    public func discardMyData() async throws(ReplicationError) {
        guard let old = try loadState() else { throw .state("\(path) holds no replicated volume (no state.json)") }
        var volume = VolumeState(size: old.size, role: .secondary)
        volume.consistent = false
        try save(volume)
        let journal = try openJournal(volumeSize: old.size)
        do {
            try await journal.clearDirty(below: old.size, throughSequence: .max)
            try await journal.close()
        } catch {
            throw .journal(error)
        }
    }
}
