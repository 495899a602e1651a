public import BlockDevices
import DeviceLayers
public import NBDProtocol

/// A named device offered to clients. The device is wrapped in the
/// emulation layer once, here, and its capabilities become the transmission
/// flags: advertised truthfully, so a client never sends what cannot be done.
public final class Export: Sendable {
    public let name: String
    public let device: any BlockDevice
    public let description: ExportDescription
    /// Requests, bytes, errors and latency, for `--metrics`.
    public let statistics = ExportStatistics()

    public init(name: String, device: any BlockDevice, description text: String = "") {
        let emulated = EmulatedDevice(device)
        self.name = name
        self.device = emulated
        self.description = ExportDescription(
            name: name, description: text, size: emulated.size,
            flags: Self.flags(emulated.capabilities),
            blockSizePreferred: max(emulated.capabilities.blockSizePreferred, 512))
    }

    static func flags(_ capabilities: DeviceCapabilities) -> TransmissionFlags {
        var flags: TransmissionFlags = [.hasFlags, .sendCache]
        if capabilities.isReadOnly { flags.insert(.readOnly) }
        if capabilities.canFlush { flags.insert(.sendFlush) }
        if capabilities.fua != .none { flags.insert(.sendFUA) }
        if capabilities.canTrim { flags.insert(.sendTrim) }
        if capabilities.zero != .none {
            flags.insert(.sendWriteZeroes)
            // Fast zero is advertised with zero: a device that cannot zero
            // quickly answers ENOTSUP at once, which is what the client wants
            // to learn before choosing to write zeros itself.
            flags.insert(.sendFastZero)
        }
        if capabilities.isMultiConnSafe { flags.insert(.canMultiConn) }
        return flags
    }
}

/// The exports of one server, by name; the empty name finds the default.
public struct ExportTable: ExportDirectory {
    public let byName: [String: Export]
    public let ordered: [Export]
    public let defaultName: String?

    /// `defaultName` is the export served for the empty name; without one,
    /// a lone export is the default.
    public init(_ exports: [Export], defaultName: String? = nil) {
        ordered = exports
        byName = Dictionary(exports.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.defaultName = defaultName ?? (exports.count == 1 ? exports[0].name : nil)
    }

    public func lookup(_ name: String) -> Export? {
        if let export = byName[name] { return export }
        if name.isEmpty, let defaultName { return byName[defaultName] }
        return nil
    }

    public func export(named name: String) -> ExportDescription? { lookup(name)?.description }

    public var exports: [ExportDescription] { ordered.map(\.description) }
}
