import Foundation

/// An exclusive flock(2) on a file, so that two processes setting up one cluster take turns.
final class FileLock {
    private var descriptor: Int32

    /// Blocks until the lock on `path` (created if missing) is held.
    init(path: String) throws {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw PostgresError(context: "locking \(path)", message: String(cString: strerror(errno)))
        }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let message = String(cString: strerror(errno))
                close(descriptor)
                throw PostgresError(context: "locking \(path)", message: message)
            }
        }
    }

    /// Releases the lock; closing the descriptor drops it.
    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
