import Foundation
import KeyfarmPostgres

/// A coordinator process as the lease table knows it.
public struct CoordinatorIdentity: Sendable, Equatable {
    /// Random per process.
    public var instance: String
    public var host: String
    public var pid: Int
    /// Where workers reach it (`--advertise`).
    public var endpoint: String
    public var version: String

    public init(instance: String, host: String, pid: Int, endpoint: String, version: String) {
        self.instance = instance
        self.host = host
        self.pid = pid
        self.endpoint = endpoint
        self.version = version
    }
}

/// What a try for the lease found.
public enum LeaseTry: Sendable, Equatable {
    /// Taken (or taken again) at this epoch.
    case acquired(epoch: Int64)
    /// Another coordinator holds it until it expires.
    case heldByOther(endpoint: String, epoch: Int64)
}

/// A coordinator as `keyfarm coordinators` shows it (a row of `keyfarm.v_coordinators`).
public struct CoordinatorStatus: Sendable, Equatable {
    public var instance: String
    public var host: String
    public var pid: Int
    public var endpoint: String
    public var version: String
    /// leader, standby, stopped or gone.
    public var role: String
    public var epoch: Int64?
    public var since: Date
    public var lastSeenAt: Date
    public var startedAt: Date
}

/// The fence refused a commit: the lease no longer names this holder at this epoch.
public struct LeadershipLost: Error, Sendable, CustomStringConvertible {
    public var epoch: Int64
    public var description: String {
        "the coordinator lease moved on from epoch \(epoch): another coordinator leads; nothing was committed"
    }
}

extension FarmStore {
    /// Takes the lease when it is free, expired, or already this process's (a new epoch each
    /// time), holding it for `seconds` by the database's clock; otherwise says who holds it.
    /// Also records that this coordinator was seen. One statement, so one round trip.
    public func tryLease(_ me: CoordinatorIdentity, seconds: Double) throws -> LeaseTry {
        let answer = try connection.execute("""
            WITH seen AS (
                INSERT INTO keyfarm.coordinators AS c (instance, host, pid, endpoint, version)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (instance) DO UPDATE SET last_seen_at = now(), endpoint = excluded.endpoint
            ), taken AS (
                INSERT INTO keyfarm.coordinator_lease AS l (holder, endpoint, epoch, expires_at, since)
                VALUES ($1, $4, 1, now() + make_interval(secs => $6), now())
                ON CONFLICT (id) DO UPDATE
                    SET holder = excluded.holder, endpoint = excluded.endpoint, epoch = l.epoch + 1,
                        expires_at = excluded.expires_at, since = now()
                    WHERE l.expires_at <= now() OR l.holder = excluded.holder
                RETURNING epoch
            )
            SELECT true AS taken, epoch, $4 AS endpoint FROM taken
            UNION ALL
            SELECT false, epoch, endpoint FROM keyfarm.coordinator_lease WHERE NOT EXISTS (SELECT 1 FROM taken)
            """, [me.instance, me.host, me.pid, me.endpoint, me.version, seconds], prepared: true).rows
        guard let row = answer.first else {
            // Another coordinator created the row while this statement waited for it: the
            // statement's snapshot predates that row. A fresh look finds it.
            let holder = try connection.execute("SELECT endpoint, epoch FROM keyfarm.coordinator_lease").rows.first
            return .heldByOther(endpoint: try holder?.decode("endpoint", as: String.self) ?? "",
                                epoch: try holder?.decode("epoch", as: Int64.self) ?? 0)
        }
        let epoch: Int64 = try row.decode("epoch")
        if try row.decode("taken", as: Bool.self) {
            try connection.execute("UPDATE keyfarm.coordinators SET last_epoch = $2 WHERE instance = $1", [me.instance, epoch])
            return .acquired(epoch: epoch)
        }
        return .heldByOther(endpoint: try row.decode("endpoint"), epoch: epoch)
    }

    /// Extends the lease this process holds at `epoch`; false when it no longer does.
    public func renewLease(instance: String, epoch: Int64, seconds: Double) throws -> Bool {
        try connection.execute("""
            WITH renewed AS (
                UPDATE keyfarm.coordinator_lease SET expires_at = now() + make_interval(secs => $3)
                WHERE holder = $1 AND epoch = $2 RETURNING 1
            ), seen AS (
                UPDATE keyfarm.coordinators SET last_seen_at = now() WHERE instance = $1
            )
            SELECT count(*) AS renewed FROM renewed
            """, [instance, epoch, seconds], prepared: true).rows.first?.decode("renewed", as: Int.self) == 1
    }

    /// Gives the lease up at once (a clean stop), so a standby takes it at its next look.
    public func releaseLease(instance: String, epoch: Int64) throws {
        try connection.execute("""
            UPDATE keyfarm.coordinator_lease SET expires_at = now() WHERE holder = $1 AND epoch = $2
            """, [instance, epoch])
    }

    /// Records that a coordinator began to stand by again (it stepped down), or stopped.
    public func markCoordinator(instance: String, stopped: Bool) throws {
        try connection.execute(stopped ? "UPDATE keyfarm.coordinators SET stopped_at = now(), last_seen_at = now() WHERE instance = $1"
                                       : "UPDATE keyfarm.coordinators SET standby_since = now() WHERE instance = $1",
                               [instance])
    }

    /// Deletes coordinators not seen for `olderThan` seconds: every process start adds a row.
    @discardableResult
    public func forgetCoordinators(olderThan seconds: Double) throws -> Int {
        try connection.execute("""
            DELETE FROM keyfarm.coordinators c
            WHERE last_seen_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (SELECT 1 FROM keyfarm.coordinator_lease l WHERE l.holder = c.instance)
            """, [seconds]).affectedRows
    }

    /// The fence: inside a transaction, locks the lease row FOR SHARE if it still names this
    /// holder at this epoch, so no takeover can commit before this transaction ends; throws
    /// `LeadershipLost` when it does not (the transaction then rolls back).
    public static func fence(_ connection: PostgresConnection, instance: String, epoch: Int64) throws {
        let held = try connection.execute("""
            SELECT 1 FROM keyfarm.coordinator_lease WHERE holder = $1 AND epoch = $2 FOR SHARE
            """, [instance, epoch], prepared: true)
        if held.rows.isEmpty { throw LeadershipLost(epoch: epoch) }
    }

    /// Every coordinator seen in the last `within` seconds (nil: all), leader first.
    public func coordinators(within seconds: Double?) throws -> [CoordinatorStatus] {
        try connection.execute("""
            SELECT instance, host, pid, endpoint, version, role, epoch, since, last_seen_at, started_at
            FROM keyfarm.v_coordinators
            WHERE $1::float8 IS NULL OR last_seen_at > now() - make_interval(secs => $1::float8) OR role = 'leader'
            ORDER BY role = 'leader' DESC, role = 'standby' DESC, last_seen_at DESC, instance
            """, [seconds]).rows.map { row in
            CoordinatorStatus(instance: try row.decode("instance"), host: try row.decode("host"), pid: try row.decode("pid"),
                              endpoint: try row.decode("endpoint"), version: try row.decode("version"),
                              role: try row.decode("role"), epoch: try row.decode("epoch", as: Int64?.self),
                              since: try row.decode("since"), lastSeenAt: try row.decode("last_seen_at"),
                              startedAt: try row.decode("started_at"))
        }
    }
}
