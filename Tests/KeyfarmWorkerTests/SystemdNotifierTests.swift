import Foundation
import Testing
import KeyfarmWorker

/// A real AF_UNIX datagram socket standing in for systemd's notification socket: bound to a
/// path in a fresh temporary directory, or to an abstract name, with a bounded receive.
private final class NotifySocket {
    let fd: Int32
    let notifyValue: String
    private let directory: String?

    /// Binds a socket at `<temp dir>/notify`, or at an abstract name when `abstract` is true.
    init(abstract: Bool = false) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var name: [UInt8]
        if abstract {
            notifyValue = "@keyfarm-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            directory = nil
            name = Array(notifyValue.utf8)
            name[0] = 0
        } else {
            var template = Array("/tmp/kf-notify-XXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { buffer in
                mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
            }
            guard let made else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            directory = made
            notifyValue = directory! + "/notify"
            name = Array(notifyValue.utf8) + [0]
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        withUnsafeMutableBytes(of: &address) { raw in
            raw.baseAddress!.advanced(by: pathOffset).copyMemory(from: name, byteCount: name.count)
        }
        let length = socklen_t(pathOffset + name.count - (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram, or nil when none arrives within the receive timeout.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// Whether a datagram is waiting right now, without blocking.
    func hasPending() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) >= 0
    }

    deinit {
        close(fd)
        if let directory {
            unlink(notifyValue)
            rmdir(directory)
        }
    }
}

@Suite struct SystemdNotifierTests {
    @Test func sendsEachMessageAsOneDatagramToAPath() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.notifyValue])
        #expect(notifier.isActive)

        notifier.ready(status: "connected to tcp://coordinator:5555, 4 slots")
        #expect(socket.receive() == "READY=1\nSTATUS=connected to tcp://coordinator:5555, 4 slots")
        notifier.status("2 of 4 slots busy")
        #expect(socket.receive() == "STATUS=2 of 4 slots busy")
        notifier.watchdog()
        #expect(socket.receive() == "WATCHDOG=1")
        notifier.stopping(status: "draining 2 jobs")
        #expect(socket.receive() == "STOPPING=1\nSTATUS=draining 2 jobs")
        notifier.ready()
        #expect(socket.receive() == "READY=1")
        notifier.stopping()
        #expect(socket.receive() == "STOPPING=1")
        notifier.notify("EXTEND_TIMEOUT_USEC=5000000")
        #expect(socket.receive() == "EXTEND_TIMEOUT_USEC=5000000")
    }

    @Test func sendsToAnAbstractSocket() throws {
        let socket = try NotifySocket(abstract: true)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.notifyValue])
        #expect(notifier.isActive)
        notifier.ready(status: "ready")
        #expect(socket.receive() == "READY=1\nSTATUS=ready")
    }

    @Test func keepsStatusToOneLine() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.notifyValue])
        notifier.status("lost coordinator\nREADY=1")
        #expect(socket.receive() == "STATUS=lost coordinator READY=1")
    }

    @Test func isInactiveWithoutNotifySocket() throws {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isActive)
        notifier.ready(status: "nobody listens")  // does nothing, and must not crash
        notifier.watchdog()
    }

    @Test(arguments: ["", "relative/notify", "vsock:2:1234",
                      "/" + String(repeating: "x", count: 200)])
    func isInactiveWithAnUnusableNotifySocket(value: String) {
        #expect(!SystemdNotifier(environment: ["NOTIFY_SOCKET": value]).isActive)
    }

    @Test func ignoresSendErrors() throws {
        let socket = try NotifySocket()
        let missing = socket.notifyValue + "-missing"
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": missing])
        #expect(notifier.isActive)
        notifier.ready(status: "nobody listens")  // ENOENT, ignored
        notifier.watchdog()
        #expect(!socket.hasPending())
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsec() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "2000000"])
        #expect(notifier.watchdogInterval == .seconds(1))
        let ours = SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(ours.watchdogInterval == .seconds(15))
    }

    @Test func watchdogIsIgnoredWhenMeantForAnotherProcess() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "\(getpid() + 1)"])
        #expect(notifier.watchdogInterval == nil)
    }

    @Test(arguments: [nil, "", "0", "-5", "soon"] as [String?])
    func noWatchdogWithoutAUsableWatchdogUsec(value: String?) {
        var environment = ["WATCHDOG_PID": "\(getpid())"]
        environment["WATCHDOG_USEC"] = value
        #expect(SystemdNotifier(environment: environment).watchdogInterval == nil)
    }
}
