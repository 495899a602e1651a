import BlockDevices
public import RadosDevice

/// `rados:POOL/IMAGE?...` URIs, shared by the device catalog and `buse image`.
public enum RadosURI {
    static let options = ["conf", "id", "keyring", "namespace", "timeout", "break-lock", "write-around"]

    /// Splits `POOL/IMAGE`.
    public static func poolAndImage(_ text: String) -> (pool: String, image: String)? {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (parts[0], parts[1])
    }

    public static func settings(_ uri: DeviceURI) throws(DeviceURIError) -> RadosCluster.Settings {
        var settings = RadosCluster.Settings()
        settings.configFile = uri.options["conf"]
        if let id = uri.options["id"] { settings.clientID = id }
        settings.keyring = uri.options["keyring"]
        if let timeout = uri.options["timeout"] {
            guard let seconds = Int(timeout), seconds >= 0 else {
                throw .badOption(uri.text, "timeout", "expected whole seconds (0 waits for ever)")
            }
            settings.operationTimeout = seconds
        }
        return settings
    }

    static func open(_ uri: DeviceURI, readOnly: Bool) throws(DeviceURIError) -> any BlockDevice {
        guard let (poolName, image) = poolAndImage(uri.path) else {
            throw .badOption(uri.text, "path", "expected rados:POOL/IMAGE")
        }
        // Bytes of writes without FUA that may be acknowledged once sent,
        // before RADOS holds them (librbd's default does the same); 0 is off.
        let writeAround = Int(try uri.size("write-around") ?? 0)
        do {
            let pool = try RadosCluster(try settings(uri)).pool(poolName, namespace: uri.options["namespace"])
            return try RadosBlockDevice(
                pool: pool, image: image, readOnly: readOnly, breakLock: uri.flag("break-lock"), ownsPool: true,
                writeAroundBytes: writeAround)
        } catch let error as RadosError {
            throw .cannotOpen(uri.text, error.description)
        } catch {
            throw error as! DeviceURIError
        }
    }
}
