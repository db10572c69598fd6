import Foundation
import KeyfarmTestSupport
import KeyfarmWire

/// A ROUTER socket bound where a farm's coordinator would be, for tests that play the
/// coordinator's side by hand against a real worker process: it keeps what it hears, with the
/// connection (routing id) each message came on, and answers what the test tells it to.
final class StandInCoordinator {
    /// A context of its own: nothing else in the test process shares its I/O thread.
    let context: ZMQContext
    let router: ZMQSocket
    private(set) var heard: [(identity: [UInt8], message: WireMessage)] = []

    init(_ farm: Farm) throws {
        context = try ZMQContext()
        router = try ZMQSocket(context: context, type: .router)
        try router.setLinger(milliseconds: 0)
        try router.setReceiveTimeout(milliseconds: 100)
        try router.bind(farm.endpoint)
    }

    deinit { router.close() }

    /// Reads for `duration`, keeping every message.
    func listen(for duration: Duration) throws {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            guard let frames = try router.receive(), frames.count > 1 else { continue }
            heard.append((frames[0], try WireMessage.decode(frames.dropFirst())))
        }
    }

    /// Reads until `done` holds (true), or the timeout passes (false). Roomy by default: on a
    /// loaded CI machine a just-started worker once took over 30 s to say HELLO.
    func listen(timeout: Duration = .seconds(120), until done: () -> Bool) throws -> Bool {
        try eventually(timeout: timeout) {
            try listen(for: .milliseconds(100))
            return done()
        }
    }

    func forget() { heard.removeAll() }

    func send(_ message: WireMessage, to identity: [UInt8]) throws {
        _ = try router.send([identity] + message.frames())
    }

    /// A WELCOME with the test farm's heartbeat settings.
    func welcome(_ identity: [UInt8]) throws {
        var welcome = WelcomeBody()
        welcome.workerID = 1
        welcome.heartbeatIntervalMs = 200
        welcome.liveness = 4
        try send(.welcome(welcome), to: identity)
    }

    var heardHeartbeat: Bool { heard.contains { if case .heartbeat = $0.message { true } else { false } } }
}
