import CZeroMQ
import Foundation
import KeyfarmWire
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks the ZeroMQ wrapper the way the coordinator and workers use it: a ROUTER on an ephemeral
/// loopback port, DEALERs with known routing ids, polling sockets next to plain descriptors, and
/// inproc hand-offs between threads. Everything is on 127.0.0.1 or inproc, every receive and send
/// has a timeout, and every socket has linger 0, so a broken wrapper fails a test instead of
/// hanging it. The tests are synchronous because a socket stays on the thread that made it.
@Suite struct ZeroMQTests {
    /// Longest any receive or send may block, in milliseconds.
    static let timeoutMilliseconds: Int32 = 20_000

    // MARK: ROUTER and DEALER

    @Test func routerSeesTheIdentityAndRoutesTheReplyToTheRightDealer() throws {
        let router = try boundRouter()
        let endpoint = try #require(router.lastEndpoint)
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(!endpoint.hasSuffix(":*"))

        let first = try dealer(identity: "worker-a", connectedTo: endpoint)
        let second = try dealer(identity: "worker-b", connectedTo: endpoint)
        let hello: [[UInt8]] = [Array("READY".utf8), [], [0, 1, 2, 255], Array("slots=2".utf8)]
        #expect(try first.send(hello))
        #expect(try second.send([Array("READY".utf8)]))

        var seen: [[UInt8]: [[UInt8]]] = [:]
        for _ in 0..<2 {
            let message = try #require(try router.receive())
            seen[message[0]] = Array(message.dropFirst())
        }
        #expect(seen[Array("worker-a".utf8)] == hello)
        #expect(seen[Array("worker-b".utf8)] == [Array("READY".utf8)])

        let reply: [[UInt8]] = [Array("ASSIGN".utf8), Array("job-42".utf8), [UInt8](repeating: 7, count: 100_000)]
        #expect(try router.send([Array("worker-b".utf8)] + reply))
        #expect(try second.receive() == reply)
        try first.setReceiveTimeout(milliseconds: 100)
        #expect(try first.receive() == nil)
    }

    @Test func routerMandatoryRejectsAnUnknownIdentity() throws {
        let router = try boundRouter { try $0.setRouterMandatory(true) }
        let error = try #require(throws: ZMQError.self) {
            try router.send([Array("nobody".utf8), Array("PING".utf8)])
        }
        #expect(error.code == EHOSTUNREACH)
        #expect(error.isHostUnreachable)
        #expect(!error.isWouldBlock)
        #expect(error.description.contains("sending frame 1 of 2"))
        #expect(error.description.contains(String(cString: zmq_strerror(EHOSTUNREACH))))
    }

    // MARK: Receiving nothing

    @Test func receiveReturnsNilWhenTheTimeoutExpires() throws {
        let pull = try socket(.pull)
        try pull.bind("inproc://\(uniqueName())")
        try pull.setReceiveTimeout(milliseconds: 100)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try pull.receive() == nil)
        let waited = clock.now - start
        #expect(waited >= .milliseconds(80))
        #expect(waited < .seconds(10))
    }

    @Test func dontWaitReceiveOnAnEmptySocketReturnsNil() throws {
        let pull = try socket(.pull)
        try pull.bind("inproc://\(uniqueName())")
        #expect(!pull.hasMoreToReceive)
        #expect(try pull.receive(dontWait: true) == nil)
    }

    @Test func closedSocketThrowsInsteadOfCrashing() throws {
        let pull = try socket(.pull)
        pull.close()
        pull.close()
        #expect(!pull.isOpen)
        #expect(pull.lastEndpoint == nil)
        let error = try #require(throws: ZMQError.self) { try pull.receive(dontWait: true) }
        #expect(error.code == ENOTSOCK)
    }

    // MARK: Polling

    @Test func pollerReportsASocketReadableOnlyWhenAMessageIsWaiting() throws {
        let name = "inproc://\(uniqueName())"
        let receiver = try socket(.pair)
        try receiver.bind(name)
        let sender = try socket(.pair)
        try sender.connect(name)

        let poller = ZMQPoller()
        let index = poller.add(.socket(receiver))
        #expect(index == 0)
        #expect(try poller.poll(timeout: .zero).isEmpty)
        #expect(try poller.poll(timeout: .milliseconds(50)).isEmpty)

        #expect(try sender.send([Array("wake".utf8), Array("up".utf8)]))
        #expect(try poller.poll(timeout: .seconds(5)) == [index])
        #expect(receiver.hasMoreToReceive)
        #expect(try receiver.receive(dontWait: true) == [Array("wake".utf8), Array("up".utf8)])
        #expect(!receiver.hasMoreToReceive)
        #expect(try poller.poll(timeout: .zero).isEmpty)
    }

    @Test func pollerReportsAPipeReadableAfterAWrite() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { _ = close(ends[0]); _ = close(ends[1]) }
        let quiet = try socket(.pull)
        try quiet.bind("inproc://\(uniqueName())")

        let poller = ZMQPoller()
        let socketIndex = poller.add(.socket(quiet))
        let pipeIndex = poller.add(.descriptor(ends[0]))
        #expect(pipeIndex == 1 && poller.count == 2)
        #expect(try poller.poll(timeout: .zero).isEmpty)

        var byte: UInt8 = 1
        #expect(write(ends[1], &byte, 1) == 1)
        let readable = try poller.poll(timeout: .seconds(5))
        #expect(readable == [pipeIndex])
        #expect(!readable.contains(socketIndex))
        #expect(read(ends[0], &byte, 1) == 1)
        #expect(try poller.poll(timeout: .zero).isEmpty)
    }

    @Test func pollerTimeoutsRoundUpToWholeMilliseconds() throws {
        let poller = ZMQPoller()
        let quiet = try socket(.pull)
        try quiet.bind("inproc://\(uniqueName())")
        poller.add(.socket(quiet))
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try poller.poll(timeout: .microseconds(1500)).isEmpty)
        #expect(clock.now - start >= .milliseconds(1))
    }

    // MARK: Threads and contexts

    @Test func pushAndPullOnTwoThreadsOverInproc() throws {
        let endpoint = "inproc://\(uniqueName())"
        let pull = try socket(.pull)
        try pull.bind(endpoint)

        let count = 200
        let pusher = ThreadOutcome()
        let thread = Thread {
            pusher.finish {
                let push = try ZMQSocket(type: .push)
                defer { push.close() }
                try push.setLinger(milliseconds: 1_000)
                try push.setSendTimeout(milliseconds: ZeroMQTests.timeoutMilliseconds)
                try push.connect(endpoint)
                for number in 0..<count {
                    guard try push.send([Array("frame".utf8), Array(String(number).utf8)]) else {
                        throw ZMQError(code: EAGAIN, context: "pushing message \(number)")
                    }
                }
            }
        }
        thread.start()

        for number in 0..<count {
            let message = try #require(try pull.receive(), "message \(number) did not arrive")
            #expect(message == [Array("frame".utf8), Array(String(number).utf8)])
        }
        #expect(pusher.wait(seconds: 30))
        #expect(pusher.error == nil)
    }

    @Test func terminatingAContextWakesABlockedReceiveWithETERM() throws {
        let context = try ZMQContext(ioThreads: 1)
        let receiver = ThreadOutcome()
        let started = DispatchSemaphore(value: 0)
        let thread = Thread {
            receiver.finish {
                let pull = try ZMQSocket(context: context, type: .pull)
                defer { pull.close() }
                try pull.setLinger(milliseconds: 0)
                try pull.setReceiveTimeout(milliseconds: ZeroMQTests.timeoutMilliseconds)
                try pull.bind("inproc://blocked")
                started.signal()
                _ = try pull.receive()
            }
        }
        thread.start()
        #expect(started.wait(timeout: .now() + 5) == .success)
        Thread.sleep(forTimeInterval: 0.05)
        let clock = ContinuousClock()
        let start = clock.now
        context.terminate()
        context.terminate()
        #expect(clock.now - start < .seconds(10), "terminate waited for the receive timeout")
        #expect(receiver.wait(seconds: 30))
        #expect((receiver.error as? ZMQError)?.isTerminated == true)

        let error = try #require(throws: ZMQError.self) { try ZMQSocket(context: context, type: .pair) }
        #expect(error.code == ETERM)
    }

    // MARK: Limits and volume

    @Test func oversizedMessageIsDroppedAndTheRouterKeepsServingOthers() throws {
        let router = try boundRouter { try $0.setMaxMessageSize(1_024) }
        let endpoint = try #require(router.lastEndpoint)
        let monitorEndpoint = "inproc://\(uniqueName())"
        try #require(zmq_socket_monitor(router.handle, monitorEndpoint, ZMQ_EVENT_DISCONNECTED) == 0)
        let monitor = try socket(.pair)
        try monitor.connect(monitorEndpoint)

        let honest = try dealer(identity: "honest", connectedTo: endpoint)
        let noisy = try dealer(identity: "noisy", connectedTo: endpoint)
        #expect(try honest.send([Array("before".utf8)]))
        #expect(try router.receive() == [Array("honest".utf8), Array("before".utf8)])

        #expect(try noisy.send([Array("garbage".utf8), [UInt8](repeating: 0xAB, count: 64 * 1024)]))
        // libzmq closes the noisy peer's connection when the oversized frame's header arrives.
        let event = try #require(try monitor.receive(), "no disconnect event from the router")
        let eventNumber = event[0].prefix(2).withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
        #expect(Int32(eventNumber) == ZMQ_EVENT_DISCONNECTED)

        #expect(try honest.send([Array("after".utf8)]))
        #expect(try router.receive() == [Array("honest".utf8), Array("after".utf8)])
        try router.setReceiveTimeout(milliseconds: 200)
        let late = try router.receive()
        #expect(late == nil, "the oversized message was delivered: \(late?.map(\.count) ?? [])")
    }

    @Test func aThousandMessagesRoundTripInOrder() throws {
        let router = try boundRouter {
            try $0.setRouterMandatory(true)
            try $0.setHighWaterMarks(send: 2_000, receive: 2_000)
        }
        let endpoint = try #require(router.lastEndpoint)
        let client = try dealer(identity: "client", connectedTo: endpoint) {
            try $0.setHighWaterMarks(send: 2_000, receive: 2_000)
        }

        let count = 1_000
        for number in 0..<count {
            #expect(try client.send([Array("seq".utf8), withUnsafeBytes(of: UInt32(number).bigEndian, Array.init)]))
        }
        for _ in 0..<count {
            let message = try #require(try router.receive())
            #expect(try router.send(message))
        }
        for number in 0..<count {
            let message = try #require(try client.receive(), "echo \(number) did not arrive")
            let echoed = message[1].withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
            #expect(message[0] == Array("seq".utf8))
            if echoed != UInt32(number) {
                Issue.record("echo \(number) came back as \(echoed)")
                break
            }
        }
        #expect(try client.receive(dontWait: true) == nil)
    }

    // MARK: Small pieces

    @Test func errorDescriptionsSayWhatWasBeingDone() throws {
        let router = try socket(.router)
        let error = try #require(throws: ZMQError.self) { try router.bind("tcp://127.0.0.1:not-a-port") }
        #expect(error.description.hasPrefix("binding tcp://127.0.0.1:not-a-port: "))
        #expect(ZMQError(code: EAGAIN, context: "x").isWouldBlock)
        let empty = try #require(throws: ZMQError.self) { try router.send([]) }
        #expect(empty.code == EINVAL)
    }

    // MARK: Helpers

    /// A socket of `type` on the shared context with linger 0 and bounded send and receive.
    private func socket(_ type: ZMQSocketType) throws -> ZMQSocket {
        let socket = try ZMQSocket(type: type)
        try socket.setLinger(milliseconds: 0)
        try socket.setReceiveTimeout(milliseconds: Self.timeoutMilliseconds)
        try socket.setSendTimeout(milliseconds: Self.timeoutMilliseconds)
        return socket
    }

    /// A ROUTER bound to a free loopback port, after `configure` sets its options: libzmq copies
    /// options into an endpoint when it is bound, so later changes miss the connections it accepts.
    // MARK: Many sockets: epoll over their notification descriptors

    @Test func epollReportsTheSocketAMessageArrivedOnAndNotOneThatWasRemoved() throws {
        let router = try boundRouter()
        let endpoint = try #require(router.lastEndpoint)
        let dealers = try (0..<3).map { try dealer(identity: "swarm-\($0)", connectedTo: endpoint) }
        let poll = try EventPoll()
        for (index, dealer) in dealers.enumerated() {
            try poll.add(try dealer.notificationDescriptor(), tag: UInt64(index))
            // A socket signals arrivals only once a read found it empty: arm it.
            #expect(try dealer.receive(dontWait: true) == nil)
        }
        // Each says hello so the router knows it; a removed socket's replies go unannounced.
        for dealer in dealers { #expect(try dealer.send([Array("HELLO".utf8)])) }
        for _ in 0..<3 { _ = try #require(try router.receive()) }
        poll.remove(try dealers[2].notificationDescriptor())
        #expect(try router.send([Array("swarm-1".utf8), Array("PONG".utf8)]))
        #expect(try router.send([Array("swarm-2".utf8), Array("PONG".utf8)]))
        // Descriptors may be signalled for a socket's own state changes too, so drain what is
        // signalled (as a reactor does) until the message shows up; bounded.
        var received: [UInt64: [[UInt8]]] = [:]
        for _ in 0..<200 where received[1] == nil {
            for tag in try poll.wait(milliseconds: 100) {
                while let message = try dealers[Int(tag)].receive(dontWait: true) { received[tag] = message }
            }
        }
        #expect(received[1] == [Array("PONG".utf8)])
        #expect(received[0] == nil)
        #expect(received[2] == nil)
        // The removed one still holds its message; only the epoll set forgot it.
        try dealers[2].setReceiveTimeout(milliseconds: Self.timeoutMilliseconds)
        #expect(try dealers[2].receive() == [Array("PONG".utf8)])
    }

    @Test func aContextTakesMoreSocketsThanLibzmqsDefaultWhenAskedTo() throws {
        let context = try ZMQContext(maxSockets: 1_100)
        defer { context.terminate() }
        let sockets = try (0..<1_050).map { _ in try ZMQSocket(context: context, type: .dealer) }
        #expect(sockets.count == 1_050)
        for socket in sockets { socket.close() }
        let small = try ZMQContext(maxSockets: 4)
        defer { small.terminate() }
        let kept = try (0..<4).map { _ in try ZMQSocket(context: small, type: .dealer) }
        #expect(throws: ZMQError.self) { _ = try ZMQSocket(context: small, type: .dealer) }
        for socket in kept { socket.close() }
    }

    private func boundRouter(configure: (ZMQSocket) throws -> Void = { _ in }) throws -> ZMQSocket {
        let router = try socket(.router)
        try configure(router)
        try router.bind("tcp://127.0.0.1:*")
        return router
    }

    /// A DEALER with routing id `identity`, connected to `endpoint` after `configure` sets its options.
    private func dealer(identity: String, connectedTo endpoint: String,
                        configure: (ZMQSocket) throws -> Void = { _ in }) throws -> ZMQSocket {
        let dealer = try socket(.dealer)
        try dealer.setIdentity(Array(identity.utf8))
        try dealer.setReconnectInterval(milliseconds: 50, maximum: 500)
        try configure(dealer)
        try dealer.connect(endpoint)
        return dealer
    }

    private func uniqueName() -> String { "keyfarm-test-\(UUID().uuidString)" }
}

/// What a helper thread's work ended with, and a way to wait for it with a bound.
private final class ThreadOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var storedError: (any Error)?

    var error: (any Error)? { lock.withLock { storedError } }

    func finish(_ work: () throws -> Void) {
        do { try work() } catch { lock.withLock { storedError = error } }
        done.signal()
    }

    func wait(seconds: Double) -> Bool { done.wait(timeout: .now() + seconds) == .success }
}
