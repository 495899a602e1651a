import Foundation
import Testing

@testable import Replication

/// state.json is saved outside the primary's lock, so saves may finish in
/// another order than their changes were made.
@Suite("Node folder")
struct NodeFolderTests {
    @Test func anOlderStateSavedLastNeverReplacesANewerOne() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("buse-node-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let folder = try NodeFolder(path: path)
        defer { folder.unlock() }
        var older = VolumeState(size: 1 << 20, role: .primary)
        older.generation = 1
        var newer = older
        newer.generation = 2
        let (first, second) = (folder.nextVersion(), folder.nextVersion())
        try folder.save(newer, version: second)
        try folder.save(older, version: first)
        #expect(try folder.loadState()?.generation == 2)
        // A save without a version is numbered now, so it is the newest.
        try folder.save(older)
        #expect(try folder.loadState()?.generation == 1)
    }

    /// A folder that cannot be made is refused with the path that failed
    /// and the system's reason.
    @Test func aStateFolderThatCannotBeMadeSaysWhereAndWhy() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("buse-node-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: parent) }
        // A regular file where a directory of the path should be.
        #expect(FileManager.default.createFile(atPath: parent, contents: Data("a file".utf8)))
        let error = #expect(throws: ReplicationError.self) { try NodeFolder(path: parent + "/state") }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("cannot create the state folder \(parent)/state: \(parent): not a directory"), "\(message)")
    }

    @Test func anEmptyStateFolderPathIsRefused() {
        #expect(throws: ReplicationError.self) { try NodeFolder(path: "") }
    }
}
