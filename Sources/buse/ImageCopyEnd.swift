import BlockDevices

/// One end of `buse image import|export|copy`: the open device and what
/// the command does with it afterwards.
struct ImageCopyEnd {
    let device: any BlockDevice
    /// How messages name it: `rbd/vol1`, `/srv/vol1.img`.
    let name: String
    /// Closes the device (a destination's close makes it durable); the
    /// pool or file stays reachable for ``afterFailure``.
    var close: () async throws(DeviceError) -> Void
    /// Run after a failed copy into this end, once it is closed: removes
    /// what this command made, or says what is left, as a sentence.
    var afterFailure: () -> String = { "" }
    /// Run last: closes the cluster connection, if any.
    var release: () -> Void = {}

    init(_ device: any BlockDevice, name: String) {
        self.device = device
        self.name = name
        close = { () async throws(DeviceError) in try await device.close() }
    }

    /// Opens the other end of the copy with `open`; when that fails, this
    /// end (the source, already open) is closed and released first.
    func opening<Other>(_ open: () throws -> Other) async throws -> Other {
        do {
            return try open()
        } catch {
            _ = await closeDevice()
            release()
            throw error
        }
    }

    /// Closes the device; nil, or what failed.
    func closeDevice() async -> String? {
        do throws(DeviceError) {
            try await close()
            return nil
        } catch {
            return "closing \(name) failed: \(error)"
        }
    }
}
