import Testing

@testable import RadosDevice

/// The object map's view of which data objects may exist, around trims
/// that remove objects while writes are under way: an object is called
/// absent (read as zeros without asking RADOS) only when no data write can
/// have reached it after the removal.
@Suite struct ObjectMapTests {
    private func mapWithStoredObjects(_ count: UInt64) -> ObjectMap {
        ObjectMap(stored: [UInt8](repeating: 1, count: Int(count)), objectCount: count)
    }

    @Test func aRemovalWithNoWriteAboutMakesTheObjectAbsentAndItsNextWriteStoresItAgain() {
        let map = mapWithStoredObjects(4)
        map.removalStarted([2])
        map.removalEnded([2], removed: true)
        #expect(!map.mayExist(2))
        #expect(map.unstored([1, 2, 3]) == [2], "the next first write must store existence before its data")
    }

    @Test func aWriteInFlightWhenTheRemovalStartsKeepsTheObject() {
        let map = mapWithStoredObjects(4)
        map.writeStarted([2])
        map.removalStarted([2])
        map.writeEnded([2])
        map.removalEnded([2], removed: true)
        #expect(map.mayExist(2), "the write may have reached RADOS after the removal")
    }

    @Test func aWriteStartingDuringTheRemovalKeepsTheObject() {
        let map = mapWithStoredObjects(4)
        map.removalStarted([1, 2])
        map.writeStarted([2])
        map.writeEnded([2])
        map.removalEnded([1, 2], removed: true)
        #expect(!map.mayExist(1))
        #expect(map.mayExist(2))
    }

    @Test func aFailedRemovalKeepsTheObject() {
        let map = mapWithStoredObjects(2)
        map.removalStarted([0])
        map.removalEnded([0], removed: false)
        #expect(map.mayExist(0))
    }

    @Test func overlappingRemovalsShareWhatTheyLearnedUntilTheLastEnds() {
        let map = mapWithStoredObjects(2)
        map.removalStarted([0])
        map.removalStarted([0])
        map.writeStarted([0])
        map.writeEnded([0])
        map.removalEnded([0], removed: true)
        map.removalEnded([0], removed: true)
        #expect(map.mayExist(0))
        // A later removal with nothing about starts afresh.
        map.removalStarted([0])
        map.removalEnded([0], removed: true)
        #expect(!map.mayExist(0))
    }
}
