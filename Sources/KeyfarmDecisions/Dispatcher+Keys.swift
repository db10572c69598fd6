import KeyfarmCore
import KeyfarmProtocol
import Logging

/// CURVE's decisions: who the ZAP handler admits, which refusals are logged, and which
/// connected workers are cut off when their key leaves the allow-list.
extension Dispatcher {
    /// A new allow-list (at start and on every NOTIFY of a change): a worker whose key was
    /// removed gets no more jobs from this moment. Its running attempts are stopped (CANCEL) and
    /// requeued for other workers, a provider request they submitted to be resumed there, and
    /// DISCONNECT tells it why. Its next connection fails ZAP.
    mutating func replaceKeys(_ keys: [(name: String, publicKey: String)], now: Double, into actions: inout [Action]) {
        gate.replaceAllowed(keys)
        actions.append(.log(.info, "worker keys loaded", ["keys.allowed": "\(keys.count)"]))
        if keys.isEmpty {
            actions.append(.log(.warning, "CURVE is on and no worker key is allowed: every worker will be refused; allow one with `keyfarm keys add NAME.pub`", [:]))
        }
        for (identity, key) in workerKeys.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) })
        where gate.name(ofAllowed: key) == nil {
            workerKeys[identity] = nil
            guard let member = roster.remove(identity) else { continue }
            actions.append(.log(.warning, "cut off a worker whose key was removed; its jobs go to other workers", [
                "worker.name": "\(member.name)", "worker.public_key": "\(key)", "running": "\(member.running.count)"]))
            for ref in member.running.sorted() {
                sendCancel(ref, reason: DisconnectReason.keyRemoved, to: identity, now: now, into: &actions)
            }
            sendDisconnect(DisconnectReason.keyRemoved, to: identity, now: now, into: &actions)
            lose(member, reason: "worker \(member.name)'s key was removed", finalState: "offline", into: &actions)
        }
        // Connections that ended or were replaced since.
        workerKeys = workerKeys.filter { roster.member($0.key) != nil }
    }

    /// A ZAP request: admit an allowed key with the key as the connection's User-Id, so each
    /// message says which key it came under; refuse the rest, logging each key once.
    mutating func authenticate(_ publicKey: String, address: String, into actions: inout [Action]) {
        switch gate.decide(publicKey: publicKey) {
        case .admit(let name):
            actions.append(.admit(userID: publicKey))
            actions.append(.log(.debug, "admitted a worker key", ["key.name": "\(name)", "peer.address": "\(address)"]))
        case .refuse(let log):
            actions.append(.deny("worker key not allowed"))
            switch log {
            case .firstForKey:
                actions.append(.log(.warning, "refused a worker whose key is not allowed; it gets no job (logged once per key; `keyfarm keys add` its .pub to admit it)",
                                    ["worker.public_key": "\(publicKey)", "peer.address": "\(address)"]))
            case .tooManyKeys:
                actions.append(.log(.warning, "refused over \(WorkerKeyGate.rememberedKeys) different unknown worker keys; further ones are refused without a log line",
                                    ["worker.public_key": "\(publicKey)", "peer.address": "\(address)"]))
            case nil:
                break
            }
        }
    }

    /// A handshake the ROUTER refused before ZAP was asked: logged once per kind, then counted hourly.
    mutating func handshakeFailed(code: UInt32, reason: String?, endpoint: String, now: Double,
                                  into actions: inout [Action]) {
        guard let reason else {
            // A connection cut mid-handshake (a refused worker hanging up, a port scan): it
            // comes with the refusals above, or means little, so only debug says it.
            if gate.handshakeFailed(code: 0, now: now) != nil {
                actions.append(.log(.debug, "a connection ended during the CURVE handshake", [
                    "errno": "\(code)", "endpoint": "\(endpoint)"]))
            }
            return
        }
        switch gate.handshakeFailed(code: code, now: now) {
        case .first:
            actions.append(.log(.warning, "refused a connection that failed the CURVE handshake; it gets no job (logged once per kind, then counted hourly)",
                                ["handshake.reason": "\(reason)", "endpoint": "\(endpoint)"]))
        case .repeated(let count):
            actions.append(.log(.warning, "refused more connections that failed the CURVE handshake",
                                ["handshake.reason": "\(reason)", "handshake.count": "\(count)",
                                 "since.seconds": "\(Int(WorkerKeyGate.summaryInterval))"]))
        case nil:
            break
        }
    }
}
