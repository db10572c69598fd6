import ArgumentParser
import Foundation
import KeyfarmStore

/// `keyfarm coordinators`: which coordinator leads, and which stand by.
struct CoordinatorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinators",
        abstract: "List the coordinators: which leads (and at which epoch), which stand by, which stopped or are gone.",
        discussion: """
            One row per coordinator process seen in the last day (--all: in the last 7 days, after \
            which a starting coordinator forgets them), leader first. ROLE is `leader` (it holds \
            the lease in the database), `standby` (seen in the last 10 s, waiting for the lease), \
            `stopped` (it said goodbye) or `gone` (no longer seen: killed, or its host lost). EPOCH \
            is the lease's epoch for the leader, and for the others the last epoch they led at; it \
            grows at every takeover. SINCE is when the leader took the lease, or when the others \
            last began to stand by. The same rows are in the view keyfarm.v_coordinators.
            """)

    @Flag(help: "Print JSON instead of a table.")
    var json = false
    @Flag(help: "Include coordinators not seen for more than a day.")
    var all = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    struct Document: Encodable {
        var coordinators: [Entry]
        struct Entry: Encodable {
            var instance: String
            var host: String
            var pid: Int
            var endpoint: String
            var version: String
            var role: String
            var epoch: Int64?
            var since: Date
            var last_seen_at: Date
            var started_at: Date
        }
    }

    func run() throws {
        try reportingFailures {
            let coordinators = try database.openStore(logger: try common.logger()).coordinators(within: all ? nil : 86_400)
            if json {
                try printJSON(Document(coordinators: coordinators.map {
                    .init(instance: $0.instance, host: $0.host, pid: $0.pid, endpoint: $0.endpoint, version: $0.version,
                          role: $0.role, epoch: $0.epoch, since: $0.since, last_seen_at: $0.lastSeenAt, started_at: $0.startedAt)
                }))
                return
            }
            guard !coordinators.isEmpty else {
                Console.current.print("no coordinator seen\(all ? "" : " in the last day"); start one with: keyfarm coordinator --bind tcp://0.0.0.0:5555 --advertise tcp://HOST:5555")
                return
            }
            var table = TextTable(["ENDPOINT", "ROLE", "EPOCH", "SINCE", "LAST SEEN", "HOST", "PID", "INSTANCE"], rightAligned: [2, 6])
            let formatter = ISO8601DateFormatter()
            for coordinator in coordinators {
                table.add([coordinator.endpoint, coordinator.role, coordinator.epoch.map(String.init) ?? "-",
                           formatter.string(from: coordinator.since), formatter.string(from: coordinator.lastSeenAt),
                           coordinator.host, "\(coordinator.pid)", coordinator.instance])
            }
            Console.current.write(table.render() + "\n")
            if !coordinators.contains(where: { $0.role == "leader" }) {
                Console.current.printError("keyfarm: no coordinator leads: nothing is dispatched until one does (see ops/runbooks/coordinator-host-loss.md)")
            }
        }
    }
}
