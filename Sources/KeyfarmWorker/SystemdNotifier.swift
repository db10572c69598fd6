#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells systemd how a `Type=notify` service is doing (ready, status line, watchdog pings,
/// stopping) by speaking the sd_notify(3) datagram protocol itself, so the worker needs no
/// libsystemd. Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.
///
/// Each message opens a fresh AF_UNIX datagram socket, sends one datagram and closes it, so
/// the value holds no descriptor and can be copied to any thread. Failures are ignored, as
/// sd_notify's are: a service must keep working when its supervisor cannot be told.
public struct SystemdNotifier: Sendable {
    /// The bytes of the `sockaddr_un` to send to, and how many of them are the address: an
    /// abstract name's length counts exactly, without the trailing NUL a path has.
    private let address: [UInt8]?
    private let addressLength: UInt32

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
    /// recommends. Nil when the unit has no watchdog or it is meant for another process.
    public let watchdogInterval: Duration?

    /// Whether messages go anywhere: `NOTIFY_SOCKET` named a path or an abstract socket.
    public var isActive: Bool { address != nil }

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    public init(environment: [String: String]) {
        (address, addressLength) = Self.socketAddress(environment["NOTIFY_SOCKET"]) ?? (nil, 0)
        watchdogInterval = Self.watchdogInterval(usec: environment["WATCHDOG_USEC"],
                                                 pid: environment["WATCHDOG_PID"])
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments) as one datagram.
    public func notify(_ state: String) {
        guard let address else { return }
        #if canImport(Darwin)
        let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        let flags: Int32 = 0
        #else
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let flags = Int32(MSG_NOSIGNAL)
        #endif
        guard fd >= 0 else { return }
        defer { close(fd) }
        let payload = Array(state.utf8)
        address.withUnsafeBytes { raw in
            payload.withUnsafeBytes { bytes in
                _ = sendto(fd, bytes.baseAddress, bytes.count, flags,
                           raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(addressLength))
            }
        }
    }

    /// Says start-up is over (`READY=1`), with an optional status line.
    public func ready(status: String? = nil) {
        notify(Self.message("READY=1", status: status))
    }

    /// Replaces the status line `systemctl status` shows.
    public func status(_ text: String) {
        notify("STATUS=" + Self.oneLine(text))
    }

    /// Pings the watchdog (`WATCHDOG=1`); send it every `watchdogInterval`.
    public func watchdog() {
        notify("WATCHDOG=1")
    }

    /// Says the service is shutting down (`STOPPING=1`), e.g. while a worker drains.
    public func stopping(status: String? = nil) {
        notify(Self.message("STOPPING=1", status: status))
    }

    private static func message(_ assignment: String, status: String?) -> String {
        guard let status else { return assignment }
        return assignment + "\nSTATUS=" + oneLine(status)
    }

    /// A newline would start a new assignment in the datagram, so status text keeps to one line.
    private static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    private static func socketAddress(_ value: String?) -> ([UInt8], UInt32)? {
        guard let value, let first = value.first, first == "/" || first == "@" else { return nil }
        var name = Array(value.utf8)
        if first == "@" { name[0] = 0 }  // Linux abstract namespace: a leading NUL, no terminator.
        var address = sockaddr_un()
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // A path needs room for its NUL; an abstract name may fill sun_path.
        guard name.count < capacity || (first == "@" && name.count == capacity) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = withUnsafeBytes(of: &address) { Array($0) }
        bytes.replaceSubrange(pathOffset..<pathOffset + name.count, with: name)
        let length = pathOffset + name.count + (first == "/" ? 1 : 0)
        #if canImport(Darwin)
        bytes[0] = UInt8(length)  // sun_len
        #endif
        return (bytes, UInt32(length))
    }

    private static func watchdogInterval(usec: String?, pid: String?) -> Duration? {
        guard let usec, let microseconds = UInt64(usec), microseconds > 0 else { return nil }
        if let pid {
            guard let owner = pid_t(pid), owner == getpid() else { return nil }
        }
        return .microseconds(Int64(clamping: microseconds / 2))
    }
}
