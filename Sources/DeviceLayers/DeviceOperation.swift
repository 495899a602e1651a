/// The operations of ``BlockDevices/BlockDevice``, named so that layers can
/// select some of them (which to fail, which to delay, which to count).
public enum DeviceOperation: String, Sendable, Hashable, CaseIterable {
    case read, write, flush, trim, zero, blockStatus, cache
}
