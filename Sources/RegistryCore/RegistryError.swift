/// One error as the registry answers it: a spec code, a message for people,
/// optional structured detail, and the HTTP status of the response.
///
/// Every failure a client can cause ends as one of these; the HTTP layer
/// sends `status` and `jsonBody` and nothing else.
public struct RegistryError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    /// The spec allows any JSON here; ours are flat string maps, which is all
    /// distribution ever sends (digest, name, reason...). Empty means `null`.
    public var detail: [String: String]
    /// The HTTP status; defaults to the code's own.
    public var status: Int

    public init(_ code: ErrorCode, message: String? = nil, detail: [String: String] = [:], status: Int? = nil) {
        self.code = code
        self.message = message ?? code.defaultMessage
        self.detail = detail
        self.status = status ?? code.status
    }

    /// The response body: `{"errors":[{"code":"...","message":"...","detail":...}]}`.
    public var jsonBody: String { Self.jsonBody([self]) }

    /// The body for several errors in one response, as the spec allows.
    public static func jsonBody(_ errors: [RegistryError]) -> String {
        var out = #"{"errors":["#
        for (index, error) in errors.enumerated() {
            if index > 0 { out += "," }
            out += #"{"code":"# + JSONText.quoted(error.code.rawValue)
            out += #","message":"# + JSONText.quoted(error.message)
            out += #","detail":"# + JSONText.object(error.detail) + "}"
        }
        return out + "]}"
    }
}
