public import Hummingbird
public import NIOCore

/// Hummingbird's basic context plus the connection, which a blob GET needs
/// to hand its file to the connection's `FileRegionHandler`.
public struct RegistryRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's connection (an in-memory channel under HummingbirdTesting's `.router`).
    public let connection: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        connection = source.channel
    }
}
