#if os(Linux)
import CZeroMQ
import Glibc

/// Readiness of many descriptors at once (Linux epoll), for a thread that serves thousands of
/// ZeroMQ sockets: zmq_poll scans every item on every call, epoll returns only those signalled.
/// Each descriptor is registered with a tag, and `wait` returns the tags that became readable.
/// Belongs to one thread.
public final class EventPoll {
    private let descriptor: Int32
    private var events: [epoll_event]

    /// Opens an epoll instance that returns at most `batch` readiness events per `wait`.
    public init(batch: Int = 1024) throws {
        descriptor = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard descriptor >= 0 else { throw EventPollError(code: errno, context: "creating an epoll instance") }
        events = Array(repeating: epoll_event(), count: max(batch, 1))
    }

    deinit { close(descriptor) }

    /// Watches `fd` for readability (level-triggered), reporting it as `tag`.
    public func add(_ fd: Int32, tag: UInt64) throws {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = tag
        guard epoll_ctl(descriptor, EPOLL_CTL_ADD, fd, &event) == 0 else {
            throw EventPollError(code: errno, context: "watching descriptor \(fd)")
        }
    }

    /// Stops watching `fd` (before it is closed); a descriptor not watched is ignored.
    public func remove(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(descriptor, EPOLL_CTL_DEL, fd, &event)
    }

    /// Waits up to `milliseconds` (-1: forever) and returns the tags of readable descriptors;
    /// empty on timeout or an interrupting signal.
    public func wait(milliseconds: Int32) throws -> [UInt64] {
        let count = events.withUnsafeMutableBufferPointer { buffer in
            epoll_wait(descriptor, buffer.baseAddress, Int32(buffer.count), milliseconds)
        }
        if count < 0 {
            if errno == EINTR { return [] }
            throw EventPollError(code: errno, context: "waiting on epoll")
        }
        return (0..<Int(count)).map { events[$0].data.u64 }
    }
}

/// A failed epoll call, with errno.
public struct EventPollError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var context: String

    public var description: String { "\(context): \(String(cString: strerror(code)))" }
}
#endif
