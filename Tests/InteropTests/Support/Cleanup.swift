import Glibc
import Synchronization
import TestSupport

/// Undo steps for system state a test creates (mounts, loop devices), run
/// in reverse order by ``runRemaining()`` from a `defer`, so a failing test
/// does not leave its mounts behind. A step is dropped once the test has
/// undone it itself, so nothing is undone twice (a loop device number may
/// already belong to someone else by then).
final class Cleanup: Sendable {
    private let steps = Mutex<[(id: Int, command: [String])]>([])
    private let nextID = Atomic<Int>(0)

    /// Registers `command` (an absolute path and its arguments); returns its id.
    func add(_ command: [String]) -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        steps.withLock { $0.append((id, command)) }
        return id
    }

    /// The test undid this step itself.
    func done(_ id: Int) { steps.withLock { $0.removeAll { $0.id == id } } }

    /// Runs every step not yet done, newest first, each bounded to 30 s.
    func runRemaining() {
        let remaining = steps.withLock { steps in
            defer { steps = [] }
            return steps.reversed()
        }
        for step in remaining {
            guard let child = try? ChildProcess(step.command[0], Array(step.command.dropFirst()), outputPrefix: nil)
            else { continue }
            if child.waitBlocking(seconds: 30) == nil { child.send(SIGKILL) }
        }
    }
}
