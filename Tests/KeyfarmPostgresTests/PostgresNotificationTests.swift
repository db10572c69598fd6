import Foundation
import KeyfarmPostgres
import KeyfarmTestSupport
import Logging
import Testing

/// LISTEN/NOTIFY between two real connections.
@Suite struct PostgresNotificationTests {
    let listener: PostgresConnection
    let notifier: PostgresConnection

    init() throws {
        let conninfo = try TestPostgres.freshDatabase()
        listener = try PostgresConnection(conninfo: conninfo, logger: Logger(label: "test"))
        notifier = try PostgresConnection(conninfo: conninfo, logger: Logger(label: "test"))
    }

    @Test func notificationCarriesThePayload() throws {
        try listener.listen("jobs ready")  // needs quoting as an identifier
        try notifier.notify("jobs ready", payload: "shot 3, segment \"2\"")
        let notifierPID = try notifier.execute("SELECT pg_backend_pid() AS pid")[0].decode("pid", as: Int32.self)
        let notifications = try listener.waitForNotifications(timeout: .seconds(10))
        #expect(notifications == [PostgresNotification(channel: "jobs ready", payload: "shot 3, segment \"2\"",
                                                       processID: notifierPID)])
    }

    @Test func waitingWithNothingToReadTimesOut() throws {
        try listener.listen("quiet")
        let clock = ContinuousClock()
        let start = clock.now
        let notifications = try listener.waitForNotifications(timeout: .milliseconds(300))
        let elapsed = start.duration(to: clock.now)
        #expect(notifications.isEmpty)
        #expect(elapsed >= .milliseconds(290))
        #expect(elapsed < .seconds(10))
    }

    @Test func notificationsArriveOnlyAfterCommit() throws {
        try listener.listen("ledger")
        try notifier.transaction { transaction in
            try transaction.notify("ledger", payload: "first")
            #expect(try listener.waitForNotifications(timeout: .milliseconds(200)).isEmpty)
        }
        #expect(try listener.waitForNotifications(timeout: .seconds(10)).map(\.payload) == ["first"])
    }

    @Test func unlistenStopsDelivery() throws {
        try listener.listen("drain")
        try listener.unlisten("drain")
        try notifier.notify("drain", payload: "x")
        #expect(try listener.waitForNotifications(timeout: .milliseconds(200)).isEmpty)
        #expect(try listener.pollNotifications().isEmpty)
    }
}
