import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// TCP ports on 127.0.0.1 for daemons started on one machine (the demo, tests).
public enum LoopbackPort {
    /// Why no port could be had: the machine is out of sockets or ports.
    public struct Unavailable: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// A port nothing listens on right now, below the kernel's range of ephemeral ports: a port
    /// from that range (what binding port 0 gives) is also what every outgoing connection on the
    /// machine takes its local port from, and a farm of tests opening many connections took one
    /// between this answer and the daemon's bind ("Address already in use"). Tried at random
    /// below the range; port 0's answer only if none of those is free. Another process could
    /// still take the port before the caller binds it; callers on one machine accept that.
    public static func unused() throws -> Int {
        let ephemeralStart = ephemeralRange().lowerBound
        if ephemeralStart > 10_000 {
            for _ in 0..<64 {
                let port = Int.random(in: 10_000..<ephemeralStart)
                if bindable(port) { return port }
            }
        }
        return try bound(0)
    }

    /// The kernel's ephemeral port range (net.ipv4.ip_local_port_range), or Linux's default.
    static func ephemeralRange() -> ClosedRange<Int> {
        let fallback = 32_768...60_999
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8) else {
            return fallback
        }
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        guard numbers.count == 2, numbers[0] <= numbers[1] else { return fallback }
        return numbers[0]...numbers[1]
    }

    /// Whether 127.0.0.1:`port` can be bound now.
    static func bindable(_ port: Int) -> Bool {
        (try? bound(port)) == port
    }

    /// Binds a socket to 127.0.0.1:`port` (0: any), reads the port it got, and closes it.
    private static func bound(_ port: Int) throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else {
            throw Unavailable(description: "cannot open a socket: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard ok else {
            throw Unavailable(description: "cannot find a free port on 127.0.0.1: \(String(cString: strerror(errno)))")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// True when something accepts connections on 127.0.0.1:`port`.
    public static func isListening(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
