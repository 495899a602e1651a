import Yams

/// `buse serve --config FILE`: the same settings as the flags, in YAML.
///
///     listen: ["127.0.0.1:10809"]
///     unix: ["/run/buse/nbd.sock"]
///     default-export: vol1
///     log-level: info
///     tls: require                 # off, on or require
///     tls-certificates: /etc/buse/tls   # or tls-psk: /etc/buse/keys.psk
///     tls-verify-peer: false
///     exports:
///       - name: vol1
///         device: file:/var/lib/buse/vol1.img?size=10G
///         description: first volume
///         read-only: false
struct ServeConfiguration: Decodable {
    struct ExportEntry: Decodable {
        var name: String
        var device: String
        var description: String?
        var readOnly: Bool?

        enum CodingKeys: String, CodingKey {
            case name, device, description
            case readOnly = "read-only"
        }
    }

    var listen: [String]?
    var unix: [String]?
    var defaultExport: String?
    var logLevel: String?
    var tls: String?
    var tlsCertificates: String?
    var tlsPsk: String?
    var tlsVerifyPeer: Bool?
    var exports: [ExportEntry]?

    enum CodingKeys: String, CodingKey {
        case listen, unix, exports
        case defaultExport = "default-export"
        case logLevel = "log-level"
        case tls
        case tlsCertificates = "tls-certificates"
        case tlsPsk = "tls-psk"
        case tlsVerifyPeer = "tls-verify-peer"
    }

    static func load(path: String) throws -> ServeConfiguration {
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw CommandLineError("cannot read config file \(path): \(error)")
        }
        do {
            return try YAMLDecoder().decode(ServeConfiguration.self, from: text)
        } catch {
            throw CommandLineError("config file \(path) is not valid: \(error)")
        }
    }
}
