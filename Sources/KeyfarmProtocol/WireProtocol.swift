/// The protocol signature and version every message starts with: "KFP" and version 1.
public enum WireProtocol {
    public static let signature: [UInt8] = [0x4B, 0x46, 0x50, 0x01]
    public static let version: UInt8 = 1
}

/// The fixed `Disconnect.reason` values a receiver acts on (PROTOCOL.md lists them); any other
/// reason is free text for logs.
public enum DisconnectReason {
    /// Coordinator: no registration for this routing id; the worker says HELLO again at once.
    public static let unknownWorker = "unknown worker"
    /// Coordinator: another live instance holds the name; the worker retries after its back-off.
    public static let nameInUse = "name in use"
    /// Coordinator: CURVE is on and this connection's key was taken off the allow-list.
    public static let keyRemoved = "worker key removed"
    /// Coordinator: the database refused to record the HELLO; the worker retries after its back-off.
    public static let registrationFailed = "registration failed"
    /// Coordinator: it stands by and does not lead; `Disconnect.leader` names the leader's
    /// advertised endpoint when known. The worker goes there (or to its next endpoint) at once.
    public static let standby = "standby"
}
