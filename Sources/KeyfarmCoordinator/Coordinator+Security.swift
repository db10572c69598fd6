import CZeroMQ
import Foundation
import KeyfarmStore
import KeyfarmWire
import Logging

/// CURVE on the ROUTER socket: a ZAP handler in the reactor that admits only allowed worker
/// keys, and a socket monitor that reports handshakes failing before ZAP is asked (plain text,
/// a wrong coordinator key). Both log each refusal once, not once per retried handshake.
extension Coordinator {
    /// The ZAP domain the ROUTER's requests carry.
    static let zapDomain = "keyfarm"

    /// Makes `socket` a CURVE server and binds the ZAP handler and the monitor, all before the
    /// socket binds, so that no connection is ever admitted without a ZAP answer.
    static func secure(_ socket: ZMQSocket, secretKey: CurveSecretKey,
                       context: ZMQContext) throws -> (zap: ZMQSocket, monitor: ZMQSocket) {
        guard Curve.isAvailable else {
            throw ZMQError(code: ENOTSUP, context: "turning on CURVE: this libzmq was built without it (it needs libsodium)")
        }
        let zap = try ZMQSocket(context: context, type: .rep)
        try zap.setLinger(milliseconds: 0)
        do {
            try zap.bind(ZAPRequest.endpoint)
        } catch let error as ZMQError where error.code == EADDRINUSE {
            throw ZMQError(code: error.code, context: "binding the ZAP handler \(ZAPRequest.endpoint): another one is bound in this ZeroMQ context")
        }
        let endpoint = "inproc://keyfarm-coordinator-monitor-\(UInt64.random(in: 0...UInt64.max))"
        try socket.monitor(endpoint, events: ZMQMonitorEvent.handshakeFailedNoDetail | ZMQMonitorEvent.handshakeFailedProtocol)
        let monitor = try ZMQSocket(context: context, type: .pair)
        try monitor.setLinger(milliseconds: 0)
        try monitor.connect(endpoint)
        try socket.setCurveServer(secretKey: secretKey)
        try socket.setZAPDomain(zapDomain)
        return (zap, monitor)
    }

    /// Loads the allow-list from `keyfarm.worker_keys` (at start and on NOTIFY keyfarm_keys)
    /// and cuts off connected workers whose keys are no longer on it.
    func reloadWorkerKeys() throws {
        let keys = try store.workerKeys()
        gate.replaceAllowed(keys.map { ($0.name, $0.publicKey) })
        logger.info("worker keys loaded", metadata: ["keys.allowed": "\(keys.count)"])
        if keys.isEmpty {
            logger.warning("CURVE is on and no worker key is allowed: every worker will be refused; allow one with `keyfarm keys add NAME.pub`")
        }
        try cutOffRemovedKeys()
    }

    /// A worker whose key was removed gets no more jobs from this moment: its running attempts
    /// are stopped (CANCEL) and requeued for other workers, a provider request they submitted
    /// to be resumed there, and DISCONNECT tells it why. Its next connection fails ZAP.
    func cutOffRemovedKeys() throws {
        for (identity, key) in workerKeys where gate.name(ofAllowed: key) == nil {
            workerKeys[identity] = nil
            guard let member = roster.remove(identity) else { continue }
            logger.warning("cut off a worker whose key was removed; its jobs go to other workers", metadata: [
                "worker.name": "\(member.name)", "worker.public_key": "\(key)", "running": "\(member.running.count)"])
            for ref in member.running { sendCancel(ref, reason: DisconnectReason.keyRemoved, to: identity) }
            sendDisconnect(reason: DisconnectReason.keyRemoved, to: identity)
            try lose(member, reason: "worker \(member.name)'s key was removed", finalState: "offline")
        }
        // Connections that ended or were replaced since.
        workerKeys = workerKeys.filter { roster.member($0.key) != nil }
    }

    /// A HELLO on a connection whose key was removed after ZAP admitted it.
    func refuseRemovedKey(identity: [UInt8], worker: String, key: String?) {
        logger.warning("refused a worker whose key was removed; it gets no job", metadata: [
            "worker.name": "\(worker)", "worker.public_key": "\(key ?? "none")"])
        sendDisconnect(reason: DisconnectReason.keyRemoved, to: identity)
    }

    /// Answers every waiting ZAP request at once: libzmq holds the handshake until it hears.
    func answerAuthenticationRequests() throws {
        guard let zap = security?.zap else { return }
        while let frames = try zap.receive(dontWait: true) {
            guard let request = ZAPRequest(frames: frames) else {
                // A REP socket must answer before it can read again; a malformed request gets a refusal.
                try zap.send(ZAPRequest.reply(requestID: frames.count > 1 ? frames[1] : [], allowed: false,
                                              text: "malformed ZAP request"))
                continue
            }
            guard let key = request.curvePublicKey else {
                try zap.send(request.reply(allowed: false, text: "CURVE required"))
                continue
            }
            let z85 = key.z85
            switch gate.decide(publicKey: z85) {
            case .admit(let name):
                // The key as the connection's User-Id: each message says which key it came under.
                try zap.send(request.reply(allowed: true, text: "OK", userID: z85))
                logger.debug("admitted a worker key", metadata: ["key.name": "\(name)", "peer.address": "\(request.address)"])
            case .refuse(let log):
                try zap.send(request.reply(allowed: false, text: "worker key not allowed"))
                switch log {
                case .firstForKey:
                    logger.warning("refused a worker whose key is not allowed; it gets no job (logged once per key; `keyfarm keys add` its .pub to admit it)",
                                   metadata: ["worker.public_key": "\(z85)", "peer.address": "\(request.address)"])
                case .tooManyKeys:
                    logger.warning("refused over \(WorkerKeyGate.rememberedKeys) different unknown worker keys; further ones are refused without a log line",
                                   metadata: ["worker.public_key": "\(z85)", "peer.address": "\(request.address)"])
                case nil:
                    break
                }
            }
        }
    }

    /// Logs handshakes the ROUTER refused before ZAP was asked (ZMTP protocol errors), once per
    /// kind and then hourly counts.
    func readHandshakeFailures() throws {
        guard let monitor = security?.monitor else { return }
        while let frames = try monitor.receive(dontWait: true) {
            guard let event = ZMQMonitorEvent(frames: frames) else { continue }
            guard event.event == ZMQMonitorEvent.handshakeFailedProtocol else {
                // A connection cut mid-handshake (a refused worker hanging up, a port scan):
                // it comes with the refusals above, or means little, so only debug says it.
                if gate.handshakeFailed(code: 0, now: now) != nil {
                    logger.debug("a connection ended during the CURVE handshake", metadata: [
                        "errno": "\(event.value)", "endpoint": "\(event.endpoint)"])
                }
                continue
            }
            let reason = ZMQMonitorEvent.describeProtocolError(event.value)
            switch gate.handshakeFailed(code: event.value, now: now) {
            case .first:
                logger.warning("refused a connection that failed the CURVE handshake; it gets no job (logged once per kind, then counted hourly)",
                               metadata: ["handshake.reason": "\(reason)", "endpoint": "\(event.endpoint)"])
            case .repeated(let count):
                logger.warning("refused more connections that failed the CURVE handshake",
                               metadata: ["handshake.reason": "\(reason)", "handshake.count": "\(count)",
                                          "since.seconds": "\(Int(WorkerKeyGate.summaryInterval))"])
            case nil:
                break
            }
        }
    }
}
