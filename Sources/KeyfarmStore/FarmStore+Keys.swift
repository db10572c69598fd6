import Foundation
import KeyfarmPostgres

/// A worker public key on the allow-list of a coordinator running with CURVE.
public struct WorkerKey: Sendable, Equatable {
    /// Unique: what `keyfarm keys remove` takes (defaults to the .pub file's base name).
    public var name: String
    /// The public key in Z85 (40 characters).
    public var publicKey: String
    public var comment: String
    public var addedAt: Date
    /// The database user who added it.
    public var addedBy: String
}

/// Why a key could not be added; nothing was changed.
public enum WorkerKeyConflict: Error, Sendable, Equatable, CustomStringConvertible {
    case nameTaken(name: String, publicKey: String)
    case keyAllowed(name: String, publicKey: String)

    public var description: String {
        switch self {
        case .nameTaken(let name, let publicKey):
            "a key named \"\(name)\" is already allowed (\(publicKey)); choose another --name, or `keyfarm keys remove \(name)` first"
        case .keyAllowed(let name, let publicKey):
            "the public key \(publicKey) is already allowed, as \"\(name)\""
        }
    }
}

extension FarmStore {
    /// The channel a change to the allow-list is announced on; payloads `added:NAME`, `removed:NAME`.
    /// A coordinator with CURVE LISTENs to it and reloads the list.
    public static let keysChannel = "keyfarm_keys"

    /// Every allowed worker key, by name.
    public func workerKeys() throws -> [WorkerKey] {
        try connection.execute("SELECT name, public_key, comment, added_at, added_by FROM keyfarm.worker_keys ORDER BY name")
            .rows.map(Self.workerKey)
    }

    /// Allows a worker key; throws `WorkerKeyConflict` when its name or its key is on the list already.
    @discardableResult
    public func addWorkerKey(name: String, publicKey: String, comment: String) throws -> WorkerKey {
        try connection.transaction { connection in
            let clashes = try connection.execute("""
                SELECT name, public_key, comment, added_at, added_by FROM keyfarm.worker_keys
                WHERE name = $1 OR public_key = $2 ORDER BY name = $1 DESC
                """, [name, publicKey]).rows.map(Self.workerKey)
            if let clash = clashes.first {
                throw clash.name == name ? WorkerKeyConflict.nameTaken(name: clash.name, publicKey: clash.publicKey)
                                         : WorkerKeyConflict.keyAllowed(name: clash.name, publicKey: clash.publicKey)
            }
            let row = try rows(connection.execute("""
                INSERT INTO keyfarm.worker_keys (name, public_key, comment) VALUES ($1, $2, $3)
                RETURNING name, public_key, comment, added_at, added_by
                """, [name, publicKey, comment]).rows)
            try connection.notify(FarmStore.keysChannel, payload: "added:\(name)")
            return try Self.workerKey(row)
        }
    }

    /// Removes the key named `nameOrKey`, else the one whose Z85 public key it is; nil when there is none.
    public func removeWorkerKey(_ nameOrKey: String) throws -> WorkerKey? {
        try connection.transaction { connection in
            let removed = try connection.execute("""
                DELETE FROM keyfarm.worker_keys
                WHERE name = $1 OR (public_key = $1 AND NOT EXISTS (SELECT 1 FROM keyfarm.worker_keys WHERE name = $1))
                RETURNING name, public_key, comment, added_at, added_by
                """, [nameOrKey]).rows.map(Self.workerKey)
            guard let key = removed.first else { return nil }
            try connection.notify(FarmStore.keysChannel, payload: "removed:\(key.name)")
            return key
        }
    }

    private static func workerKey(_ row: PostgresRow) throws -> WorkerKey {
        WorkerKey(name: try row.decode("name"), publicKey: try row.decode("public_key"), comment: try row.decode("comment"),
                  addedAt: try row.decode("added_at"), addedBy: try row.decode("added_by"))
    }
}
