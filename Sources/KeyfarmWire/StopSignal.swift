#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A way to ask a reactor to stop from anywhere: another thread, a test, or a SIGTERM/SIGINT
/// handler. It is a pipe whose read end the reactor polls alongside its sockets; writing a
/// byte to it is async-signal-safe.
public final class StopSignal: @unchecked Sendable {
    /// Poll this for readability; it becomes readable once `trigger()` ran.
    public let descriptor: Int32
    private let writeEnd: Int32

    public init() {
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "cannot create a pipe for the stop signal")
        descriptor = ends[0]
        writeEnd = ends[1]
        for fd in ends {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
    }

    deinit {
        close(descriptor)
        close(writeEnd)
    }

    /// Asks the reactor to stop (idempotent).
    public func trigger() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Whether `trigger()` has been called (without consuming it).
    public var isTriggered: Bool {
        var probe = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&probe, 1, 0) > 0
    }

    /// Makes SIGTERM and SIGINT trigger this signal (the process then drains instead of dying).
    /// One signal per process: a later call replaces the earlier one.
    public func installAsHandler(for signals: [Int32] = [SIGTERM, SIGINT]) {
        signalWriteDescriptor = writeEnd
        // A launcher may have left these blocked (a blocked signal would stay pending for ever).
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for number in signals { sigaddset(&unblock, number) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        for number in signals {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = stopSignalHandler
            #else
            action.__sigaction_u.__sa_handler = stopSignalHandler
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(number, &action, nil)
        }
    }
}

/// The write end the signal handler uses; set once before handlers are installed.
nonisolated(unsafe) private var signalWriteDescriptor: Int32 = -1

private func stopSignalHandler(_ signal: Int32) {
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(signalWriteDescriptor, &byte, 1)
}
