import BlockDevices
import DeviceLayers
import Synchronization
import Threading

/// Notes, for each write, how the thread that runs it was plugged
/// (``SubmissionPlug``) when the device got it: what a replicated device's
/// frame to its peer would meet in ``SocketWriter``.
final class PlugRecordingDevice: DeviceLayer, Sendable {
    enum Plugging: Equatable, CustomStringConvertible {
        case unplugged
        case firstOfBurst
        case midBurst

        var description: String {
            switch self {
            case .unplugged: "unplugged"
            case .firstOfBurst: "plugged, the burst's first"
            case .midBurst: "plugged, mid-burst"
            }
        }
    }

    let lower: any BlockDevice
    private let seen = Mutex<[(offset: UInt64, plugging: Plugging)]>([])

    init(_ lower: any BlockDevice) { self.lower = lower }

    /// Each write's plugging, in the order the writes arrived.
    var writes: [(offset: UInt64, plugging: Plugging)] { seen.withLock { $0 } }

    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) async throws(DeviceError) {
        let plugging: Plugging =
            switch SubmissionPlug.current {
            case nil: .unplugged
            case let plug?: plug.servesFirstOfBurst ? .firstOfBurst : .midBurst
            }
        seen.withLock { $0.append((offset, plugging)) }
        try await lower.write(data, at: offset, fua: fua)
    }
}
