public import BlockDevices
import DeviceLayers
import LocalDevices
import RadosDevice

/// Opens devices from their URIs: the one place that knows every scheme
/// (file, memory, rados) and option. The reference for users is README.md,
/// "Device URIs": keep it in step with `schemes`, `commonOptions` and
/// `RadosURI.options`. Adding a device is adding a case here (and a line to
/// the conformance suite).
public enum DeviceCatalog {
    public static let schemes = ["file", "memory", "rados"]

    /// Options every scheme accepts, applied as layers over the device.
    static let commonOptions = ["readonly", "offset", "length", "delay", "jitter"]

    public static func open(_ uri: DeviceURI, readOnly: Bool = false) throws(DeviceURIError) -> any BlockDevice {
        let readOnly = readOnly || uri.flag("readonly")
        var device: any BlockDevice
        switch uri.scheme {
        case "memory":
            try check(uri, allowed: commonOptions)
            guard let size = ByteSize.parse(uri.path) else {
                throw .badOption(uri.text, "size", "memory: takes a size, such as memory:1G")
            }
            device = MemoryDevice(size: size)
        case "file":
            try check(uri, allowed: commonOptions + ["size"])
            do {
                device = try FileDevice(path: uri.path, readOnly: readOnly, createSize: try uri.size("size"))
            } catch let error as FileDeviceError {
                throw .cannotOpen(uri.text, error.description)
            } catch {
                throw error as! DeviceURIError
            }
        case "rados":
            try check(uri, allowed: commonOptions + RadosURI.options)
            device = try RadosURI.open(uri, readOnly: readOnly)
        default:
            throw .unknownScheme(uri.text, known: schemes)
        }
        if uri.options["offset"] != nil || uri.options["length"] != nil {
            let offset = try uri.size("offset") ?? 0
            let length = try uri.size("length") ?? (device.size > offset ? device.size - offset : 0)
            do {
                device = try OffsetDevice(device, offset: offset, length: length)
            } catch {
                throw .badOption(uri.text, "offset", error.description)
            }
        }
        if uri.options["delay"] != nil || uri.options["jitter"] != nil {
            device = DelayedDevice(device, delay: try uri.duration("delay") ?? .zero, jitter: try uri.duration("jitter") ?? .zero)
        }
        if readOnly { device = ReadOnlyDevice(device) }
        return device
    }

    private static func check(_ uri: DeviceURI, allowed: [String]) throws(DeviceURIError) {
        for key in uri.options.keys.sorted() where !allowed.contains(key) {
            throw .unknownOption(uri.text, key, allowed: allowed)
        }
    }
}
