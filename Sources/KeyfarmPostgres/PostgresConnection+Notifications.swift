import CLibPQ
import Foundation

/// LISTEN/NOTIFY: how the coordinator hears about new work without polling tables.
extension PostgresConnection {
    /// Starts listening on a channel; the name is quoted as an identifier, so any text is safe.
    public func listen(_ channel: String) throws {
        try execute("LISTEN \(try quotedIdentifier(channel))")
    }

    /// Stops listening on a channel.
    public func unlisten(_ channel: String) throws {
        try execute("UNLISTEN \(try quotedIdentifier(channel))")
    }

    /// Sends a notification; delivered to listeners when the current transaction (if any) commits.
    public func notify(_ channel: String, payload: String) throws {
        try execute("SELECT pg_notify($1, $2)", [channel, payload])
    }

    /// The notifications that have arrived so far, without blocking.
    public func pollNotifications() throws -> [PostgresNotification] {
        guard let connection = rawConnection else {
            throw PostgresError(context: "reading notifications", message: "the connection is closed")
        }
        guard PQconsumeInput(connection) == 1 else {
            throw PostgresError(context: "reading notifications", message: Self.errorMessage(of: connection))
        }
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(connection) {
            notifications.append(PostgresNotification(channel: String(cString: notify.pointee.relname),
                                                      payload: String(cString: notify.pointee.extra),
                                                      processID: notify.pointee.be_pid))
            PQfreemem(notify)
        }
        return notifications
    }

    /// Waits up to `timeout` for at least one notification; returns what arrived, possibly nothing.
    public func waitForNotifications(timeout: Duration) throws -> [PostgresNotification] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            let notifications = try pollNotifications()
            if !notifications.isEmpty { return notifications }
            let remaining = clock.now.duration(to: deadline)
            if remaining <= .zero { return [] }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno != EINTR {
                throw PostgresError(context: "waiting for notifications",
                                    message: "poll failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    private func quotedIdentifier(_ name: String) throws -> String {
        guard let connection = rawConnection else {
            throw PostgresError(context: "quoting \(PostgresValuePreview.of(name))", message: "the connection is closed")
        }
        let utf8 = Array(name.utf8)
        guard let quoted = utf8.withUnsafeBufferPointer({ buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQescapeIdentifier(connection, $0.baseAddress, $0.count) }
        }) else {
            throw PostgresError(context: "quoting \(PostgresValuePreview.of(name))", message: Self.errorMessage(of: connection))
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }
}
