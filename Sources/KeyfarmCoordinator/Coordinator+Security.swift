import CZeroMQ
import Foundation
import KeyfarmStore
import KeyfarmWire
import Logging

/// CURVE on the ROUTER socket: a ZAP handler in the reactor, and a socket monitor that reports
/// handshakes failing before ZAP is asked (plain text, a wrong coordinator key). The dispatcher
/// decides whom to admit and which refusals to log (once, not once per retried handshake).
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
            for action in dispatcher.handle(.authenticate(publicKey: key.z85, address: request.address), now: now) {
                switch action {
                case .admit(let userID):
                    // The key as the connection's User-Id: each message says which key it came under.
                    try zap.send(request.reply(allowed: true, text: "OK", userID: userID))
                case .deny(let text):
                    try zap.send(request.reply(allowed: false, text: text))
                default:
                    try perform([action])
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
            let protocolError = event.event == ZMQMonitorEvent.handshakeFailedProtocol
            try handle(.handshakeFailed(code: event.value,
                                        reason: protocolError ? ZMQMonitorEvent.describeProtocolError(event.value) : nil,
                                        endpoint: event.endpoint))
        }
    }
}
