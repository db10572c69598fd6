import Foundation
import KeyfarmCore
import KeyfarmTestSupport
import KeyfarmWire
import Testing

/// A worker that says HELLO again at once (as it does after an "unknown worker" DISCONNECT)
/// crosses the ASSIGNs the coordinator sent after its first WELCOME. Those attempts are not
/// lost: the coordinator sends them again on the new connection. Real ZeroMQ sockets stand in
/// for the worker, so that the two HELLOs cross for certain.
@Suite(.serialized) struct CrossingHelloTests {
    final class Connection {
        /// A context of its own: nothing else in the test process shares its I/O thread.
        let context: ZMQContext
        let socket: ZMQSocket
        init(_ farm: Farm, identity: String) throws {
            context = try ZMQContext()
            socket = try ZMQSocket(context: context, type: .dealer)
            try socket.setLinger(milliseconds: 0)
            try socket.setReceiveTimeout(milliseconds: 100)
            try socket.setIdentity(Array(identity.utf8))
            try socket.connect(farm.endpoint)
        }
        deinit { socket.close() }

        func send(_ message: WireMessage) throws { try socket.send(message.frames()) }

        /// Messages received until `done` holds of them (or the timeout: roomy, as a loaded CI
        /// machine once took over 20 s to let a just-started coordinator answer).
        func receive(until done: ([WireMessage]) -> Bool) throws -> [WireMessage] {
            var messages: [WireMessage] = []
            _ = try eventually(timeout: .seconds(120)) {
                while let frames = try socket.receive(), let message = try? WireMessage.decode(frames) {
                    messages.append(message)
                }
                return done(messages)
            }
            return messages
        }
    }

    static func hello() -> WireMessage {
        var hello = HelloBody()
        hello.name = "crosser"
        hello.instance = "instance-1"
        hello.slots = 2
        hello.engines = ["smoke"]
        hello.version = KeyfarmVersion.current
        return .hello(hello)
    }

    static func assigns(_ messages: [WireMessage]) -> [AttemptRef] {
        messages.compactMap { if case .assign(let body) = $0 { AttemptRef(jobID: body.jobID, attempt: Int(body.attempt)) } else { nil } }
    }

    static func isWelcome(_ message: WireMessage) -> Bool { if case .welcome = message { true } else { false } }

    @Test func aSecondHelloThatCrossesAssignsLosesNone() async throws {
        try await offPool {
            let farm = try Farm()
            // Heartbeats slow enough that the stand-in worker, which sends none, stays alive.
            try farm.startCoordinator(["--heartbeat-ms", "2000", "--liveness", "10"])
            try farm.smoke("crossing", jobs: 2, ms: 10)
            // The first connection: HELLO, WELCOME, then the two jobs' ASSIGNs.
            let first = try Connection(farm, identity: "crosser/instance-1/1")
            try first.send(Self.hello())
            let welcomed = try first.receive { Self.assigns($0).count == 2 }
            #expect(welcomed.contains(where: Self.isWelcome), "\(farm.logs)")
            let assigned = Self.assigns(welcomed)
            try #require(assigned.count == 2, "\(farm.logs)")

            // The same process says HELLO again on a new connection, its `running` list empty: it
            // had not seen those ASSIGNs when it sent it.
            let second = try Connection(farm, identity: "crosser/instance-1/2")
            try second.send(Self.hello())
            let again = try second.receive { Self.assigns($0).count == 2 }
            #expect(again.contains(where: Self.isWelcome))
            #expect(Set(Self.assigns(again)) == Set(assigned), "\(farm.logs)")
            #expect(try farm.count("SELECT count(*)::int AS n FROM keyfarm.attempts WHERE outcome = 'lost'") == 0, "\(farm.logs)")

            // It runs them to the end on the new connection, each on its first attempt.
            for ref in assigned {
                var accepted = AcceptedBody()
                accepted.jobID = ref.jobID
                accepted.attempt = UInt32(ref.attempt)
                try second.send(.accepted(accepted))
                var result = ResultBody()
                result.jobID = ref.jobID
                result.attempt = UInt32(ref.attempt)
                result.outcome = .succeeded
                try second.send(.result(result))
            }
            let acknowledged = try second.receive { messages in
                messages.filter { if case .resultAck = $0 { true } else { false } }.count == 2
            }
            #expect(acknowledged.count >= 2)
            #expect(try farm.succeeded("crossing") == 2)
            #expect(try farm.count("SELECT max(attempt)::int AS n FROM keyfarm.attempts") == 1)
        }
    }

    /// The worker's side: an "unknown worker" DISCONNECT that arrives while its HELLO on this
    /// connection is unanswered answers something older (a heartbeat libzmq queued while the
    /// coordinator was away). It ignores it and waits for the WELCOME on the same connection.
    @Test func aWorkerIgnoresUnknownWorkerWhileItsHelloIsUnanswered() async throws {
        try await offPool {
            let farm = try Farm()
            let coordinator = try StandInCoordinator(farm)
            try farm.startWorker("patient", slots: 1)
            try #require(try coordinator.listen { !coordinator.heard.isEmpty }, "\(farm.logs)")
            let connection = coordinator.heard[0].identity
            // Two stale "unknown worker" answers, then the WELCOME.
            var unknown = DisconnectBody()
            unknown.reason = DisconnectReason.unknownWorker
            for _ in 0..<2 { try coordinator.send(.disconnect(unknown), to: connection) }
            try coordinator.welcome(connection)
            // Heartbeats follow on the same connection; no second HELLO came.
            let beating = try coordinator.listen { coordinator.heardHeartbeat }
            #expect(beating, "\(farm.logs)")
            #expect(Set(coordinator.heard.map(\.identity)) == [connection], "the worker reconnected: \(farm.logs)")
            #expect(coordinator.heard.filter { if case .hello = $0.message { true } else { false } }.count == 1)
        }
    }
}

