import Foundation
import KeyfarmWire

/// How a worker connects, what it offers and where it writes.
public struct WorkerConfiguration: Sendable {
    /// The coordinator's endpoint, e.g. `tcp://farm-coordinator:5555`, or several separated by
    /// commas (a leader and its standbys, in the order to try them).
    public var connect: String

    /// The coordinators' endpoints: `connect` split at commas (a leader and its standbys).
    public var endpoints: [String] {
        connect.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    /// Unique per worker, e.g. the host name.
    public var name: String
    public var slots: Int
    /// Capabilities offered to the coordinator (engine names, `provider/*`, `stitch`, `smoke`).
    public var engines: [String]
    /// The root of the farm's shared storage.
    public var storage: String
    public var version: String
    public var host: String
    /// Until the coordinator's WELCOME says otherwise.
    public var heartbeatInterval: Double = 1
    public var liveness: Int = 3
    /// The least time, in seconds, to wait for WELCOME after a HELLO before reconnecting
    /// (longer if `liveness` intervals are longer): a coordinator busy with a large turn, or
    /// one just starting, answers late, and a worker that gave up on its connection too soon
    /// would have the ASSIGNs sent to it meanwhile lost.
    public var welcomeTimeout: Double = 10
    /// Reconnect back-off: from `reconnectMinimum` seconds doubling up to `reconnectMaximum`.
    public var reconnectMinimum: Double = 1
    public var reconnectMaximum: Double = 32
    /// How long a SIGTERM drain may take before the worker exits anyway, in seconds.
    public var drainTimeout: Double = 900
    /// CURVE towards a coordinator that has it on: the coordinator's public key and this
    /// worker's secret key (its public key, derived from it, must be on the allow-list).
    public var curve: (coordinatorKey: CurvePublicKey, secretKey: CurveSecretKey)?

    public init(connect: String, name: String, slots: Int, engines: [String], storage: String, version: String,
                host: String = ProcessInfo.processInfo.hostName) {
        self.connect = connect
        self.name = name
        self.slots = slots
        self.engines = engines
        self.storage = storage
        self.version = version
        self.host = host
    }

    /// `$KEYFARM_STORAGE`, else `$XDG_DATA_HOME/keyfarm/storage` or `~/.local/share/keyfarm/storage`.
    public static func defaultStorage(environment: [String: String]) -> String {
        if let storage = environment["KEYFARM_STORAGE"], !storage.isEmpty { return storage }
        if let data = environment["XDG_DATA_HOME"], !data.isEmpty { return data + "/keyfarm/storage" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share/keyfarm/storage"
    }
}
