import ArgumentParser
import Replication

struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a stopped secondary the primary of its volume (failover).",
        discussion: """
            Run it on the peer host after the primary is lost and `buse replica` there is \
            stopped. The node starts a new generation, so that the old primary, when it \
            comes back, is told it is behind: it must rejoin with `buse replica` (and is \
            refused if it also wrote on its own: split brain). Then serve the device:
              buse serve --export vol=file:/srv/vol.img --state DIR \\
                         [--replicate-to OLD-PRIMARY:PORT]
            A replica whose resync did not finish holds a mix of old and new data and \
            is refused unless --force.
            """)

    @Option(help: ArgumentHelp("The secondary's state folder.", valueName: "dir"))
    var state: String

    @Flag(help: "Promote even a copy whose resync did not finish.")
    var force = false

    func run() async throws {
        do throws(ReplicationError) {
            let folder = try NodeFolder(path: state)
            let (old, volume) = try await folder.promote(force: force)
            print(
                "promoted \(state): now the primary of volume \(String(volume.volumeID, radix: 16)), generation \(String(volume.generation, radix: 16)) (was \(String(old, radix: 16)))"
            )
        } catch {
            throw CommandLineError(error.description)
        }
    }
}

struct DiscardMyData: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discard-my-data",
        abstract: "Resolve a split brain: this node's copy will be overwritten by a full resync.",
        discussion: """
            After both nodes were written independently, they refuse to resync. Choose \
            the node whose changes to lose, stop its buse, run this there, then start it \
            as `buse replica`: the primary copies the whole volume to it.
            """)

    @Option(help: ArgumentHelp("The state folder of the node whose changes are to be lost.", valueName: "dir"))
    var state: String

    func run() async throws {
        do throws(ReplicationError) {
            try await NodeFolder(path: state).discardMyData()
            print("\(state): changes discarded; start `buse replica` here and it will receive a full copy")
        } catch {
            throw CommandLineError(error.description)
        }
    }
}
