import KeyfarmCore
import KeyfarmDecisions
import KeyfarmProtocol
import Testing

/// The worker's side of the protocol, driven through the pure session with a test clock.
@Suite struct WorkerSessionTests {
    func session(slots: Int = 2) -> WorkerSession {
        var settings = WorkerSession.Settings(name: "w1", instance: "p1", slots: slots)
        settings.engines = ["smoke"]
        return WorkerSession(settings: settings)
    }

    func welcomed(slots: Int = 2, now: Double = 0) -> WorkerSession {
        var session = session(slots: slots)
        _ = session.handle(.tick, now: now)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: now)
        return session
    }

    func assign(_ job: Int64, attempt: UInt32 = 1) -> WireMessage {
        var body = AssignBody()
        body.jobID = job
        body.attempt = attempt
        body.kind = "smoke"
        return .assign(body)
    }

    func result(_ job: Int64, _ outcome: Keyfarm_Wire_V1_Outcome = .succeeded) -> WireMessage {
        var body = ResultBody()
        body.jobID = job
        body.attempt = 1
        body.outcome = outcome
        return .result(body)
    }

    func disconnect(_ reason: String) -> WireMessage {
        var body = DisconnectBody()
        body.reason = reason
        return .disconnect(body)
    }

    @Test func itConnectsAtOnceAndSaysHelloWithWhatItOffers() {
        var session = session()
        let actions = session.handle(.tick, now: 0)
        guard case .connect(let number, _, let hello) = actions.first else {
            Issue.record("no connection: \(actions)")
            return
        }
        #expect(number == 1)
        #expect(hello.name == "w1" && hello.instance == "p1" && hello.slots == 2 && hello.engines == ["smoke"])
        #expect(hello.running.isEmpty && !hello.draining)
        #expect(session.connection == .awaitingWelcome)
    }

    @Test func withoutAWelcomeItReconnectsAfterTheWaitWithABackOffThatDoubles() {
        var session = session()
        _ = session.handle(.tick, now: 0)
        // 10 s is the least wait for WELCOME.
        #expect(!session.handle(.tick, now: 10).contains(.close))
        #expect(session.handle(.tick, now: 10.01).contains(.close))
        #expect(session.connection == .closed(reconnectAt: 11.01))
        #expect(session.handle(.tick, now: 11).isEmpty)
        #expect(session.handle(.tick, now: 11.01).contains { if case .connect(2, _, _) = $0 { true } else { false } })
        _ = session.handle(.tick, now: 21.1)
        #expect(session.connection == .closed(reconnectAt: 23.1))
        // A WELCOME resets the back-off.
        _ = session.handle(.tick, now: 23.1)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 23.2)
        _ = session.handle(.tick, now: 26.3)
        #expect(session.connection == .closed(reconnectAt: 27.3))
    }

    @Test func unknownWorkerBeforeTheWelcomeIsIgnoredAndAfterItReconnectsAtOnce() {
        var session = session()
        _ = session.handle(.tick, now: 0)
        let early = session.handle(.received(disconnect(DisconnectReason.unknownWorker)), now: 0.01)
        #expect(!early.contains(.close))
        #expect(session.connection == .awaitingWelcome)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 0.02)
        let late = session.handle(.received(disconnect(DisconnectReason.unknownWorker)), now: 1)
        #expect(late.contains(.close))
        #expect(session.connection == .closed(reconnectAt: 1))
    }

    @Test func nameInUseKeyRemovedAndARefusedRegistrationWaitTheBackOff() {
        for reason in [DisconnectReason.nameInUse, DisconnectReason.keyRemoved, DisconnectReason.registrationFailed] {
            var session = session()
            _ = session.handle(.tick, now: 0)
            _ = session.handle(.received(disconnect(reason)), now: 0.1)
            #expect(session.connection == .closed(reconnectAt: 1.1), "\(reason)")
        }
    }

    @Test func anAssignIsAcceptedAndStartedOnceEvenWhenSentTwice() {
        var session = welcomed()
        let first = session.handle(.received(assign(1)), now: 1)
        #expect(first.contains { if case .start(let body, false) = $0 { body.jobID == 1 } else { false } })
        #expect(first.contains { if case .send(.accepted) = $0 { true } else { false } })
        let again = session.handle(.received(assign(1)), now: 1.1)
        #expect(!again.contains { if case .start = $0 { true } else { false } })
        #expect(again.contains { if case .send(.accepted) = $0 { true } else { false } })
    }

    @Test func withoutAFreeSlotOrAnEngineTheJobGoesBack() {
        var session = welcomed(slots: 1)
        _ = session.handle(.received(assign(1)), now: 1)
        let full = session.handle(.received(assign(2)), now: 1)
        #expect(full.contains { if case .send(.result(let body)) = $0 { body.jobID == 2 && body.outcome == .handedBack } else { false } })
        var other = welcomed()
        let cannot = other.handle(.received(assign(3), runnable: false), now: 1)
        #expect(cannot.contains { action in
            guard case .send(.result(let body)) = action else { return false }
            return body.outcome == .failed && body.errorClass == .transient && body.error.contains("no engine")
        })
        #expect(!cannot.contains { if case .send(.accepted) = $0 { true } else { false } })
    }

    @Test func aResultIsSentAgainUntilAcknowledgedAndNamedInTheNextHello() {
        var session = welcomed()
        _ = session.handle(.received(assign(1)), now: 1)
        let reported = session.handle(.report(result(1)), now: 2)
        #expect(reported.contains { if case .send(.result) = $0 { true } else { false } })
        // No ack within liveness intervals (3 s): sent again.
        _ = session.handle(.received(.heartbeat(HeartbeatBody())), now: 4)
        let later = session.handle(.tick, now: 5)
        #expect(later.contains { if case .send(.result(let body)) = $0 { body.jobID == 1 } else { false } })
        // The coordinator goes silent: the next HELLO names the finished attempt.
        _ = session.handle(.tick, now: 8.1)
        let reconnect = session.handle(.tick, now: 9.1)
        guard case .connect(_, _, let hello) = reconnect.first(where: { if case .connect = $0 { true } else { false } }) else {
            Issue.record("no reconnect: \(reconnect)")
            return
        }
        #expect(hello.running.map(\.jobID) == [1])
        #expect(hello.running.first?.progress == 1)
        // Acknowledged: forgotten.
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 9.2)
        var ack = ResultAckBody()
        ack.jobID = 1
        ack.attempt = 1
        _ = session.handle(.received(.resultAck(ack)), now: 9.3)
        #expect(session.unacknowledgedResults.isEmpty)
    }

    @Test func anAbandonedAttemptIsStoppedAndItsResultGoesAsCancelled() {
        var session = welcomed()
        _ = session.handle(.received(assign(1)), now: 1)
        var welcome = WelcomeBody()
        var job = RunningJobBody()
        job.jobID = 1
        job.attempt = 1
        welcome.abandon = [job]
        let actions = session.handle(.received(.welcome(welcome)), now: 2)
        #expect(actions.contains(.cancel(AttemptRef(jobID: 1, attempt: 1))))
        let reported = session.handle(.report(result(1, .failed)), now: 3)
        #expect(reported.contains { if case .send(.result(let body)) = $0 { body.outcome == .cancelled } else { false } })
    }

    @Test func aDrainHandsBackTakesNothingNewAndExitsOnceEverythingIsAcknowledged() {
        var session = welcomed()
        _ = session.handle(.received(assign(1)), now: 1)
        let stop = session.handle(.stopRequested, now: 2)
        #expect(stop.contains(.requestHandBack(AttemptRef(jobID: 1, attempt: 1))))
        #expect(stop.contains { if case .send(.drain(let body)) = $0 { body.draining } else { false } })
        #expect(session.freeSlots == 0)
        let refused = session.handle(.received(assign(2)), now: 2.1)
        #expect(refused.contains { if case .send(.result(let body)) = $0 { body.outcome == .handedBack } else { false } })
        _ = session.handle(.report(result(1, .handedBack)), now: 3)
        #expect(!session.handle(.tick, now: 3.1).contains(.exit(0)))
        for job: Int64 in [1, 2] {
            var ack = ResultAckBody()
            ack.jobID = job
            ack.attempt = 1
            _ = session.handle(.received(.resultAck(ack)), now: 3.2)
        }
        let done = session.handle(.tick, now: 3.3)
        #expect(done.contains { if case .send(.disconnect) = $0 { true } else { false } })
        #expect(done.last == .exit(0))
    }

    @Test func aDrainThatRunsOutOfTimeExitsWithOne() {
        var settings = WorkerSession.Settings(name: "w1", instance: "p1", slots: 1)
        settings.drainTimeout = 60
        var session = WorkerSession(settings: settings)
        _ = session.handle(.tick, now: 0)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 0)
        _ = session.handle(.received(assign(1)), now: 1)
        _ = session.handle(.stopRequested, now: 2)
        var now = 2.0
        while now < 61.9 {
            _ = session.handle(.received(.heartbeat(HeartbeatBody())), now: now)
            #expect(!session.handle(.tick, now: now).contains(.exit(1)))
            now += 1
        }
        _ = session.handle(.received(.heartbeat(HeartbeatBody())), now: 62)
        #expect(session.handle(.tick, now: 62).last == .exit(1))
    }

    @Test func heartbeatsGoOnlyWhenNothingElseWasSentForAnInterval() {
        var session = welcomed()
        let idle = session.handle(.tick, now: 1)
        #expect(idle.contains { if case .send(.heartbeat) = $0 { true } else { false } })
        _ = session.handle(.received(assign(1)), now: 1.5)
        #expect(!session.handle(.tick, now: 2.2).contains { if case .send(.heartbeat) = $0 { true } else { false } })
    }

    @Test func workersWelcomedTogetherHeartbeatAtPhasesOfTheirOwn() throws {
        // Two hundred workers welcomed at the same moment: their first heartbeats spread over
        // the second half of the interval instead of coming all at once.
        var firsts: [Double] = []
        for number in 0..<200 {
            var settings = WorkerSession.Settings(name: "render-\(number)", instance: "i\(number % 7)", slots: 1)
            settings.endpoints = ["tcp://127.0.0.1:5555"]
            var session = WorkerSession(settings: settings)
            _ = session.handle(.tick, now: 0)
            _ = session.handle(.received(.welcome(WelcomeBody())), now: 0.1)
            let first = stride(from: 0.11, through: 1.2, by: 0.01).first { time in
                session.handle(.tick, now: time).contains { if case .send(.heartbeat) = $0 { true } else { false } }
            }
            firsts.append(try #require(first))
        }
        #expect(firsts.min()! >= 0.59 && firsts.max()! <= 1.11)
        // Spread: no tenth of the window holds more than a fifth of them.
        let tenths = Dictionary(grouping: firsts) { Int(($0 - 0.6) / 0.05) }
        #expect(tenths.values.map(\.count).max()! <= 40)
        #expect(tenths.count >= 8)
    }

    @Test func aHeartbeatPingsAndItsPongGivesTheRoundTrip() {
        var session = welcomed()
        let beat = session.handle(.tick, now: 1.25).compactMap { if case .send(.heartbeat(let body)) = $0 { body } else { nil } }
        #expect(beat.count == 1)
        let ping = beat.first?.ping ?? 0
        #expect(ping != 0)
        var pong = HeartbeatBody()
        pong.pong = ping
        let answered = session.handle(.received(.heartbeat(pong)), now: 1.2515)
        let trips = answered.compactMap { if case .roundTrip(let seconds) = $0 { seconds } else { nil } }
        #expect(trips.count == 1)
        #expect(abs((trips.first ?? 0) - 0.0015) < 1e-6)
        // A coordinator's own heartbeat (no pong) measures nothing.
        #expect(!session.handle(.received(.heartbeat(HeartbeatBody())), now: 1.3).contains {
            if case .roundTrip = $0 { true } else { false }
        })
    }

    @Test func anOperatorDrainIsSaidInHeartbeatsAndLeftToTheCoordinatorAfterAReconnect() {
        var session = welcomed()
        var drain = DrainBody()
        drain.draining = true
        _ = session.handle(.received(.drain(drain)), now: 0.5)
        let beat = session.handle(.tick, now: 1.5)
        #expect(beat.contains { if case .send(.heartbeat(let body)) = $0 { body.draining && body.freeSlots == 0 } else { false } })
        _ = session.handle(.tick, now: 4.6)
        let hello = session.handle(.tick, now: 5.6).compactMap { if case .connect(_, _, let hello) = $0 { hello } else { nil } }
        // HELLO says only the worker's own drain; the coordinator says the operator's again
        // after WELCOME (an undrain made meanwhile is not undone by a stale memory).
        #expect(hello.first?.draining == false)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 5.7)
        #expect(session.freeSlots == 2)
        _ = session.handle(.received(.drain(drain)), now: 5.7)
        #expect(session.freeSlots == 0)
    }

    @Test func aShuttingDownWorkerSaysSoInItsHello() {
        // Nothing running, nothing unacknowledged: it says goodbye and exits at once.
        var idle = welcomed()
        _ = idle.handle(.stopRequested, now: 0.5)
        #expect(idle.handle(.tick, now: 0.6).last == .exit(0))
        // Something running: after losing its connection it says HELLO again, draining.
        var busy = welcomed()
        _ = busy.handle(.received(assign(1)), now: 0.1)
        _ = busy.handle(.stopRequested, now: 0.5)
        _ = busy.handle(.tick, now: 3.6)
        let hello = busy.handle(.tick, now: 4.6).compactMap { if case .connect(_, _, let hello) = $0 { hello } else { nil } }
        #expect(hello.first?.draining == true)
        #expect(hello.first?.running.map(\.jobID) == [1])
        // Welcomed on the new connection, it says DRAIN again (its HELLO may have crossed the stop).
        let welcome = busy.handle(.received(.welcome(WelcomeBody())), now: 4.7)
        #expect(welcome.contains { if case .send(.drain(let body)) = $0 { body.draining } else { false } })
    }
}
