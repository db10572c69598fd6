import CZeroMQ
import Foundation

/// One ZeroMQ context per process: the I/O threads and the inproc namespace every socket shares.
///
/// libzmq's context is thread-safe (zmq(7)), so this class is Sendable; the sockets made from it
/// are not. Keep one context for the whole process (`shared`), and only make another where a test
/// wants its own inproc namespace or its own termination.
public final class ZMQContext: @unchecked Sendable {
    /// The process-wide context, created on first use with one I/O thread and never terminated.
    ///
    /// Creating a context fails only when the process is out of memory or file descriptors; there
    /// is nothing sensible to do then, so this traps with libzmq's reason.
    public static let shared: ZMQContext = {
        do {
            return try ZMQContext()
        } catch {
            fatalError("cannot create the shared ZeroMQ context: \(error)")
        }
    }()

    /// The libzmq context; valid until `terminate()` (the pointer is freed by zmq_ctx_term).
    private let context: UnsafeMutableRawPointer
    /// Guards `isTerminated`, so no socket is made from a context being torn down.
    private let lock = NSLock()
    private var isTerminated = false

    /// Makes a context with `ioThreads` background I/O threads (one is plenty below a gigabyte a
    /// second) and room for `maxSockets` sockets (libzmq's default is 1,023; each socket also
    /// takes a file descriptor or two, so raise the process's limit to match).
    public init(ioThreads: Int = 1, maxSockets: Int? = nil) throws {
        guard let context = zmq_ctx_new() else {
            throw ZMQError.last("creating a ZeroMQ context")
        }
        var settings = [(ZMQ_IO_THREADS, ioThreads, "\(ioThreads) I/O threads")]
        if let maxSockets { settings.append((ZMQ_MAX_SOCKETS, maxSockets, "room for \(maxSockets) sockets")) }
        for (option, value, what) in settings where zmq_ctx_set(context, option, Int32(clamping: value)) == -1 {
            let error = ZMQError.last("setting \(what) on a ZeroMQ context")
            zmq_ctx_term(context)
            throw error
        }
        self.context = context
    }

    deinit { terminate() }

    /// Terminates the context (zmq_ctx_term); calling it again, from any thread, does nothing.
    ///
    /// Blocking calls on this context's sockets, on any thread, fail at once with ETERM
    /// (`ZMQError.isTerminated`); their owners should close them. The first call then blocks
    /// until every socket is closed and, for sockets whose linger is not zero, until their
    /// queued messages are sent or the linger runs out. Set a linger on every socket that may
    /// outlive its peer, or this can wait forever (libzmq's default linger is infinite).
    public func terminate() {
        let first: Bool = lock.withLock {
            if isTerminated { return false }
            isTerminated = true
            zmq_ctx_shutdown(context)
            return true
        }
        guard first else { return }
        while zmq_ctx_term(context) == -1 && zmq_errno() == EINTR {}
    }

    /// `terminate()` on a thread of its own, waiting at most `limit` for it: at a process's
    /// exit, so that messages queued on closed sockets with a linger (a worker's goodbye) leave
    /// before the process does, without hanging on a socket someone forgot to close.
    /// True when the context finished terminating in time.
    @discardableResult
    public func terminate(waitingAtMost limit: Duration) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            terminate()
            done.signal()
        }
        thread.start()
        let milliseconds = Int(limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000)
        return done.wait(timeout: .now() + .milliseconds(milliseconds)) == .success
    }

    /// Runs `body` with the libzmq context, or throws ETERM once `terminate()` has begun.
    func withContext<T>(_ what: @autoclosure () -> String,
                        _ body: (UnsafeMutableRawPointer) throws -> T) throws -> T {
        try lock.withLock {
            guard !isTerminated else { throw ZMQError(code: ETERM, context: what()) }
            return try body(context)
        }
    }
}
