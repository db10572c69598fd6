import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits on ZeroMQ sockets and plain file descriptors together (zmq_poll), for a reactor thread.
///
/// The descriptors are anything poll(2) takes: libpq's `PQsocket`, the read end of a signal or
/// wake-up pipe. Items are watched for readability and keep their index for the poller's life.
/// The poller holds its sockets strongly; like them, it belongs to one thread.
public final class ZMQPoller {
    /// Something to wait on.
    public enum Item {
        case socket(ZMQSocket)
        case descriptor(Int32)
    }

    private var items: [Item] = []

    public init() {}

    /// How many items are registered; indices run from 0 to `count - 1`.
    public var count: Int { items.count }

    /// Registers an item for readability; returns its index.
    @discardableResult
    public func add(_ item: Item) -> Int {
        items.append(item)
        return items.count - 1
    }

    /// Waits up to `timeout` (nil = forever, `.zero` = just check) and returns the indices of the
    /// items that are readable; empty on timeout.
    ///
    /// A timeout is rounded up to whole milliseconds, so a short one still waits. An interrupting
    /// signal (EINTR) returns an empty set, so the caller can look at its flags and poll again.
    /// Throws ENOTSOCK if a registered socket was closed, ETERM once its context is terminated.
    public func poll(timeout: Duration?) throws -> Set<Int> {
        var pollItems: [zmq_pollitem_t] = []
        pollItems.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            switch item {
            case .socket(let socket):
                let handle = try socket.open("polling item \(index): a closed socket")
                pollItems.append(zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
            case .descriptor(let descriptor):
                pollItems.append(zmq_pollitem_t(socket: nil, fd: descriptor, events: Int16(ZMQ_POLLIN), revents: 0))
            }
        }
        let ready = zmq_poll(&pollItems, Int32(pollItems.count), Self.milliseconds(timeout))
        if ready == -1 {
            let error = ZMQError.last("polling \(pollItems.count) items")
            if error.code == EINTR { return [] }
            throw error
        }
        var readable = Set<Int>()
        // POLLERR on a descriptor counts as readable: the read will report what went wrong.
        let interesting = Int16(ZMQ_POLLIN | ZMQ_POLLERR)
        for (index, item) in pollItems.enumerated() where item.revents & interesting != 0 {
            readable.insert(index)
        }
        return readable
    }

    /// zmq_poll's timeout: -1 for forever, otherwise milliseconds rounded up.
    static func milliseconds(_ timeout: Duration?) -> Int {
        guard let timeout else { return -1 }
        let (seconds, attoseconds) = timeout.components
        guard seconds >= 0, timeout > .zero else { return 0 }
        // Beyond 2^40 seconds (some 35,000 years) is forever in all but name; the cap keeps the sum in range.
        let wholeMilliseconds = Int(min(seconds, 1 << 40)) * 1000
        let perMillisecond: Int64 = 1_000_000_000_000_000
        return wholeMilliseconds + Int((attoseconds + perMillisecond - 1) / perMillisecond)
    }
}

/// A poller holds sockets, which stay on one thread.
@available(*, unavailable)
extension ZMQPoller: Sendable {}
