import KeyfarmCore
import KeyfarmDecisions
import KeyfarmProtocol
import Testing

/// A worker given several coordinators: it follows a standby's hint to the leader, and after
/// losing its coordinator tries the others at once before backing off.
@Suite struct WorkerFailoverTests {
    static let a = "tcp://a:5555"
    static let b = "tcp://b:5555"
    static let c = "tcp://c:5555"

    func session(_ endpoints: [String] = [a, b]) -> WorkerSession {
        var settings = WorkerSession.Settings(name: "w1", instance: "p1", slots: 2)
        settings.engines = ["smoke"]
        settings.endpoints = endpoints
        return WorkerSession(settings: settings)
    }

    func standby(leader: String) -> WireMessage {
        var body = DisconnectBody()
        body.reason = DisconnectReason.standby
        body.leader = leader
        return .disconnect(body)
    }

    /// Where the actions connect, if they do.
    func connected(_ actions: [WorkerSession.Action]) -> String? {
        actions.compactMap { if case .connect(_, let endpoint, _) = $0 { endpoint } else { nil } }.first
    }

    @Test func itTriesTheFirstEndpointAndFollowsAStandbysHintToTheLeader() {
        var session = session([Self.b, Self.a])
        #expect(connected(session.handle(.tick, now: 0)) == Self.b)
        let hint = session.handle(.received(standby(leader: Self.a)), now: 0.01)
        #expect(hint.contains(.close))
        #expect(session.connection == .closed(reconnectAt: 0.01))
        #expect(connected(session.handle(.tick, now: 0.01)) == Self.a)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 0.02)
        #expect(session.welcomed && session.endpoint == Self.a)
    }

    @Test func aLeaderNamedByAStandbyNeedNotBeInTheList() {
        var session = session([Self.b])
        _ = session.handle(.tick, now: 0)
        _ = session.handle(.received(standby(leader: Self.c)), now: 0.1)
        #expect(connected(session.handle(.tick, now: 0.1)) == Self.c)
    }

    @Test func afterLosingItsCoordinatorItTriesTheOthersAtOnceThenBacksOff() {
        var session = session([Self.a, Self.b, Self.c])
        _ = session.handle(.tick, now: 0)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 0)
        // Silent for three intervals: lost, and b is tried at once.
        _ = session.handle(.heard, now: 10)
        let lost = session.handle(.tick, now: 13.1)
        #expect(lost.contains(.close))
        #expect(session.connection == .closed(reconnectAt: 13.1))
        #expect(connected(session.handle(.tick, now: 13.1)) == Self.b)
        // b never answers (10 s for a WELCOME): c at once.
        _ = session.handle(.tick, now: 23.2)
        #expect(session.connection == .closed(reconnectAt: 23.2))
        #expect(connected(session.handle(.tick, now: 23.2)) == Self.c)
        // c is silent too: every endpoint was tried, so now the back-off (1 s), then a again.
        _ = session.handle(.tick, now: 33.3)
        #expect(session.connection == .closed(reconnectAt: 34.3))
        #expect(connected(session.handle(.tick, now: 34.3)) == Self.a)
    }

    @Test func aHintNamingTheCoordinatorJustLostIsNotFollowedWhileTheStandbyTakesOver() {
        var session = session([Self.a, Self.b])
        _ = session.handle(.tick, now: 0)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 0)
        _ = session.handle(.tick, now: 3.1)
        #expect(connected(session.handle(.tick, now: 3.1)) == Self.b)
        // b has not yet seen a's lease expire: it still names a. The worker asks b again shortly.
        _ = session.handle(.received(standby(leader: Self.a)), now: 3.2)
        #expect(session.connection == .closed(reconnectAt: 3.7))
        #expect(connected(session.handle(.tick, now: 3.7)) == Self.b)
        // Now b leads.
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 3.8)
        #expect(session.welcomed && session.endpoint == Self.b)
        // Long after the loss a hint naming a is followed again (a leads once more, say).
        _ = session.handle(.received(standby(leader: Self.a)), now: 20)
        #expect(connected(session.handle(.tick, now: 20)) == Self.a)
    }

    @Test func standbysThatNameNoLeaderOrEachOtherAreAskedInTurnWithoutSpinning() {
        var session = session([Self.a, Self.b])
        _ = session.handle(.tick, now: 0)
        // No leader known: the next endpoint, half a second later.
        _ = session.handle(.received(standby(leader: "")), now: 0.1)
        #expect(session.connection == .closed(reconnectAt: 0.6))
        #expect(connected(session.handle(.tick, now: 0.6)) == Self.b)
        // Hops that go round in circles (a names b, b names a) stop being followed at once.
        var now = 0.7
        var immediate = 0
        for _ in 0..<10 {
            let leader = session.endpoint == Self.a ? Self.b : Self.a
            _ = session.handle(.received(standby(leader: leader)), now: now)
            if case .closed(let at) = session.connection, at == now { immediate += 1 }
            if case .closed(let at) = session.connection { now = at }
            _ = session.handle(.tick, now: now)
            now += 0.01
        }
        #expect(immediate <= 4)
    }

    @Test func resultsKeptForAcknowledgementGoToTheNewLeader() {
        var session = session([Self.a, Self.b])
        _ = session.handle(.tick, now: 0)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 0)
        var assign = AssignBody()
        assign.jobID = 7
        assign.attempt = 1
        assign.kind = "smoke"
        _ = session.handle(.received(.assign(assign)), now: 0.1)
        var result = ResultBody()
        result.jobID = 7
        result.attempt = 1
        result.outcome = .succeeded
        _ = session.handle(.report(.result(result)), now: 0.5)
        // a dies before it acknowledges: the HELLO to b carries the attempt, and the RESULT follows the WELCOME.
        _ = session.handle(.tick, now: 3.6)
        let hello = session.handle(.tick, now: 3.6).compactMap { if case .connect(_, _, let hello) = $0 { hello } else { nil } }
        #expect(hello.first?.running.map(\.jobID) == [7])
        let welcome = session.handle(.received(.welcome(WelcomeBody())), now: 3.7)
        #expect(welcome.contains(.send(.result(result))))
        #expect(session.endpoint == Self.b)
    }
}

extension WorkerFailoverTests {
    /// The leader stops cleanly: it says "standby" without a leader. The worker tries the next
    /// coordinator, and while that one still names the old leader (the lease not yet taken),
    /// asks it again rather than going back.
    @Test func aLeaderThatStopsSendsItsWorkersOnAndTheyDoNotGoBack() {
        var session = session([Self.a, Self.b])
        _ = session.handle(.tick, now: 0)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 0)
        _ = session.handle(.received(standby(leader: "")), now: 5)
        #expect(session.connection == .closed(reconnectAt: 5.5))
        #expect(connected(session.handle(.tick, now: 5.5)) == Self.b)
        _ = session.handle(.received(standby(leader: Self.a)), now: 5.6)
        #expect(session.connection == .closed(reconnectAt: 6.1))
        #expect(connected(session.handle(.tick, now: 6.1)) == Self.b)
        _ = session.handle(.received(.welcome(WelcomeBody())), now: 6.2)
        #expect(session.welcomed && session.endpoint == Self.b)
    }
}
