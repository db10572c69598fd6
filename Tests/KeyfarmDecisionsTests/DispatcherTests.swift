import KeyfarmCore
import KeyfarmDecisions
import KeyfarmProtocol
import Testing

/// The coordinator's rules, driven through the pure dispatcher with a test clock: each test
/// runs in microseconds and proves what the real-process tests could only wait for.
@Suite struct DispatcherTests {
    let a: Identity = [0, 1]
    let b: Identity = [0, 2]

    @Test func aHelloIsRegisteredThenWelcomedWithTheHeartbeatSettings() {
        var farm = DispatcherDriver()
        let actions = farm.hello("w1", identity: a)
        #expect(actions.queries.first == .register(a, {
            var hello = HelloBody()
            hello.name = "w1"; hello.instance = "i1"; hello.slots = 2; hello.engines = ["smoke"]
            return hello
        }()))
        let welcome = actions.sent(to: a).compactMap(\.welcome).first
        #expect(welcome?.workerID == 1)
        #expect(welcome?.heartbeatIntervalMs == 1000)
        #expect(welcome?.liveness == 3)
        #expect(actions.contains(.store(.setWorkerStates([WorkerState(workerID: 1, state: "ready")]))))
        #expect(farm.dispatcher.roster.totalFreeSlots == 2)
    }

    @Test func aPingIsAnsweredAtOnceAndTheAnswerIsTheCoordinatorsHeartbeat() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.now = 0.6
        var ping = HeartbeatBody()
        ping.ping = 42
        let answer = farm.send(.heartbeat(ping), from: a).sent(to: a)
        #expect(answer.count == 1)
        guard case .heartbeat(let pong)? = answer.first else {
            Issue.record("no heartbeat answered the ping: \(answer)")
            return
        }
        #expect(pong.pong == 42)
        // A heartbeat without a ping draws no answer.
        #expect(farm.send(.heartbeat(HeartbeatBody()), from: a).sent(to: a).isEmpty)
        // The answer counts as this side's heartbeat: none is due until an interval after it.
        farm.now = 1.5
        #expect(!farm.turn().sent(to: a).contains { $0.isHeartbeat })
        farm.now = 1.61
        #expect(farm.turn().sent(to: a).contains { $0.isHeartbeat })
    }

    @Test func hellosAreRegisteredByTheTurnInBatches() {
        var settings = Dispatcher.Settings()
        settings.registrationBatch = 2
        var farm = DispatcherDriver(settings: settings)
        var hellos: [Dispatcher.Action] = []
        let identities: [Identity] = [[0, 1], [0, 2], [0, 3]]
        for (number, identity) in identities.enumerated() {
            var body = HelloBody()
            body.name = "w\(number)"
            body.slots = 1
            hellos += farm.send(.hello(body), from: identity)
        }
        // Nothing is asked of the database until the turn, and the reactor is told not to wait.
        #expect(hellos.queries.isEmpty)
        #expect(farm.dispatcher.nextWakeUp(after: 0) == 0)
        let first = farm.handle(.registerWorkers)
        #expect(first.queries.count == 2)
        #expect(first.compactMap { if case .send(.welcome, let to) = $0 { to } else { nil } } == Array(identities.prefix(2)))
        let second = farm.handle(.registerWorkers)
        #expect(second.queries.count == 1)
        #expect(farm.dispatcher.roster.members.count == 3)
        #expect(farm.handle(.registerWorkers).isEmpty)
    }

    @Test func aSecondInstanceOfANameWaitingForRegistrationIsRefusedAsALiveOneWouldBe() {
        var farm = DispatcherDriver()
        var first = HelloBody()
        first.name = "w1"; first.instance = "i1"; first.slots = 1
        var second = first
        second.instance = "i2"
        _ = farm.send(.hello(first), from: a)
        #expect(farm.send(.hello(second), from: b).disconnects == [DisconnectReason.nameInUse])
        // The same instance again (it reconnected) is not refused.
        #expect(farm.send(.hello(first), from: b).disconnects.isEmpty)
        let registered = farm.handle(.registerWorkers)
        #expect(registered.queries.count == 2)
        #expect(farm.dispatcher.roster.member(named: "w1")?.identity == b)
    }

    @Test func readyJobsGoToFreeSlotsOnlyAfterTheTurnClaimsThem() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.ready = [readyJob(1), readyJob(2), readyJob(3)]
        let turn = farm.turn()
        #expect(turn.assigned == [AttemptRef(jobID: 1, attempt: 1), AttemptRef(jobID: 2, attempt: 1)])
        #expect(farm.dispatcher.roster.totalFreeSlots == 0)
        // Both slots filled: another claim is due as soon as one frees.
        #expect(turn.contains(.store(.announce(jobIDs: [1, 2]))))
    }

    @Test func aWorkerRestartedCoordinatorAdoptsWhatItRunsAndLosesTheRestAfterTheWindow() {
        var farm = DispatcherDriver()
        let running = AttemptRef(jobID: 7, attempt: 2)
        let dropped = AttemptRef(jobID: 8, attempt: 1)
        let orphan = AttemptRef(jobID: 9, attempt: 1)
        farm.workerIDs = ["w1": 1, "w2": 2]
        farm.leases = [1: [lease(running, worker: 1, name: "w1"), lease(dropped, worker: 1, name: "w1")],
                       2: [lease(orphan, worker: 2, name: "w2")]]
        farm.handle(.started(leases: farm.leases.values.flatMap { $0 }))
        let joined = farm.hello("w1", identity: a, running: [running])
        #expect(joined.sent(to: a).compactMap(\.welcome).first?.adopted.map(\.jobID) == [7])
        // It did not report job 8: lost at once, requeued without delay.
        #expect(joined.failures.map(\.ref) == [dropped])
        #expect(joined.failures.first?.errorClass == .lost)
        #expect(joined.failures.first?.retryAfter == 0)
        // w2 never comes back: its lease waits one liveness window (3 s) and a second.
        farm.now = 2
        _ = farm.send(.heartbeat(HeartbeatBody()), from: a)
        farm.now = 3.9
        #expect(farm.turn().failures.isEmpty)
        farm.now = 4.0
        let late = farm.turn()
        #expect(late.failures.map(\.ref) == [orphan])
        #expect(late.failures.first?.message == "worker w2 did not come back after a coordinator restart")
        #expect(late.contains(.store(.setWorkerStates([WorkerState(workerID: 2, state: "lost")]))))
    }

    @Test func aHelloThatCrossesItsAssignsGetsThemAgainInsteadOfLosingThem() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a, instance: "p1")
        farm.ready = [readyJob(1), readyJob(2)]
        let first = farm.turn().assigned
        #expect(first.count == 2)
        // The same process says HELLO again before the ASSIGNs reached it: its running list is empty.
        farm.now = 0.02
        let crossed = farm.hello("w1", identity: a, instance: "p1")
        #expect(crossed.failures.isEmpty)
        let again = crossed.sent(to: a).compactMap { message -> AttemptRef? in
            guard case .assign(let body) = message else { return nil }
            return AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
        }
        #expect(again == first)
        #expect(farm.dispatcher.running(on: a) == Set(first))
        // Once it ACCEPTED an attempt, a later HELLO without it does lose it: it was confirmed.
        var accepted = AcceptedBody()
        accepted.jobID = 1
        accepted.attempt = 1
        _ = farm.send(.accepted(accepted), from: a)
        let afterAccept = farm.hello("w1", identity: a, instance: "p1")
        #expect(afterAccept.failures.map(\.ref) == [AttemptRef(jobID: 1, attempt: 1)])
    }

    @Test func aRestartedWorkerProcessLosesWhatItWasAssignedBeforeTheRestart() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a, instance: "p1")
        farm.ready = [readyJob(1)]
        farm.turn()
        farm.now = 3.5
        // A new process (new instance, the old one silent) cannot be running the old one's ASSIGN.
        let restarted = farm.hello("w1", identity: b, instance: "p2")
        #expect(restarted.failures.map(\.ref) == [AttemptRef(jobID: 1, attempt: 1)])
        #expect(restarted.failures.first?.message == "worker w1 reconnected without it")
    }

    @Test func anAssignThatCannotReachItsWorkerLosesTheAttemptAndTheWorker() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.ready = [readyJob(1), readyJob(2)]
        farm.turn()
        let lost = farm.handle(.unreachable(a, AttemptRef(jobID: 1, attempt: 1)))
        #expect(lost.failures.map(\.ref) == [AttemptRef(jobID: 1, attempt: 1), AttemptRef(jobID: 2, attempt: 1)])
        #expect(lost.failures.first?.message == "worker w1 unreachable when assigning")
        #expect(lost.contains(.store(.setWorkerStates([WorkerState(workerID: 1, state: "lost")]))))
        #expect(farm.dispatcher.roster.members.isEmpty)
    }

    @Test func anOverdueAttemptIsCancelledThenRecordedAfterTheGraceWithoutAnAnswer() {
        var settings = Dispatcher.Settings()
        settings.timeouts = AttemptTimeouts(defaultLimit: 10, stallAfter: nil)
        settings.cancelGrace = 5
        settings.liveness = 1000
        var farm = DispatcherDriver(settings: settings)
        farm.hello("w1", identity: a)
        farm.ready = [readyJob(1)]
        farm.turn()
        farm.now = 9.9
        #expect(farm.turn().sent(to: a).allSatisfy { if case .cancel = $0 { false } else { true } })
        // Overdue attempts are looked for four times a second.
        farm.now = 10.2
        let cancel = farm.turn().sent(to: a).compactMap { if case .cancel(let body) = $0 { body } else { nil } }
        #expect(cancel.map(\.jobID) == [1])
        #expect(cancel.first?.reason.contains("attempt timeout of 10s") == true)
        #expect(farm.dispatcher.isStopping(AttemptRef(jobID: 1, attempt: 1)))
        farm.now = 15.1
        #expect(farm.turn().failures.isEmpty)
        farm.now = 15.4
        let recorded = farm.turn().failures
        #expect(recorded.map(\.errorClass) == [.timeout])
        // Attempt 1 of 3: retried after a back-off of at most the base (2 s).
        #expect((recorded.first?.retryAfter).map { $0 >= 0 && $0 < 2 } == true)
        // The worker still holds the slot until its RESULT.
        #expect(farm.dispatcher.running(on: a).count == 1)
    }

    @Test func aStalledAttemptsCancelledResultIsAFailureOfItsClass() {
        var settings = Dispatcher.Settings()
        settings.timeouts = AttemptTimeouts(defaultLimit: nil, stallAfter: 30)
        settings.liveness = 1000
        var farm = DispatcherDriver(settings: settings)
        farm.hello("w1", identity: a)
        farm.ready = [readyJob(1)]
        farm.turn()
        farm.now = 20
        var progress = ProgressBody()
        progress.jobID = 1
        progress.attempt = 1
        progress.fraction = 0.5
        _ = farm.send(.progress(progress), from: a)
        farm.now = 49.9
        #expect(!farm.turn().contains { if case .send(.cancel, _) = $0 { true } else { false } })
        // Overdue attempts are looked for four times a second.
        farm.now = 50.15
        #expect(farm.turn().contains { if case .send(.cancel, _) = $0 { true } else { false } })
        var result = ResultBody()
        result.jobID = 1
        result.attempt = 1
        result.outcome = .cancelled
        result.providerRequestID = "req-1"
        _ = farm.send(.result(result), from: a)
        let turn = farm.turn()
        #expect(turn.failures.map(\.errorClass) == [.stalled])
        #expect(turn.commands.contains(.recordProviderRequest(AttemptRef(jobID: 1, attempt: 1), provider: "", requestID: "req-1")))
        #expect(turn.sent(to: a).contains { if case .resultAck = $0 { true } else { false } })
    }

    @Test func aSecondLiveProcessUnderTheSameNameIsRefusedAndASilentOneReplaced() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a, instance: "p1")
        farm.now = 2
        let refused = farm.hello("w1", identity: b, instance: "p2")
        #expect(refused.disconnects == [DisconnectReason.nameInUse])
        #expect(refused.queries.isEmpty)
        // p1 falls silent past the liveness window: p2 (the same machine restarted) takes the name.
        farm.now = 3.5
        let replaced = farm.hello("w1", identity: b, instance: "p2")
        #expect(replaced.sent(to: b).compactMap(\.welcome).count == 1)
        #expect(farm.dispatcher.roster.member(named: "w1")?.identity == b)
    }

    @Test func aRemovedKeyCutsItsWorkerOffAndItsJobsGoElsewhere() {
        var settings = Dispatcher.Settings()
        settings.curve = true
        var farm = DispatcherDriver(settings: settings)
        farm.keys = [("w1", "KEY1")]
        farm.handle(.started(leases: []))
        #expect(farm.handle(.authenticate(publicKey: "KEY1", address: "127.0.0.1")).first == .admit(userID: "KEY1"))
        #expect(farm.handle(.authenticate(publicKey: "KEY2", address: "127.0.0.1")).first == .deny("worker key not allowed"))
        farm.hello("w1", identity: a, key: "KEY1")
        farm.ready = [readyJob(1)]
        farm.turn()
        farm.keys = []
        let cut = farm.handle(.keysChanged)
        let messages = cut.sent(to: a)
        #expect(messages.contains { if case .cancel(let body) = $0 { body.jobID == 1 } else { false } })
        #expect(cut.disconnects == [DisconnectReason.keyRemoved])
        #expect(cut.failures.map(\.ref) == [AttemptRef(jobID: 1, attempt: 1)])
        #expect(cut.contains(.store(.setWorkerStates([WorkerState(workerID: 1, state: "offline")]))))
        // A HELLO on a connection admitted before the removal gets no job either.
        let again = farm.hello("w1", identity: b, key: "KEY1")
        #expect(again.disconnects == [DisconnectReason.keyRemoved])
        #expect(again.queries.isEmpty)
    }

    @Test func anOperatorDrainStopsNewWorkAndTellsTheWorker() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.drained = ["w1"]
        farm.handle(.workerChanged(name: "w1"))
        farm.ready = [readyJob(1)]
        let turn = farm.turn()
        #expect(turn.sent(to: a).contains { if case .drain(let body) = $0 { body.draining } else { false } })
        #expect(turn.assigned.isEmpty)
        farm.drained = []
        farm.handle(.workerChanged(name: "w1"))
        #expect(farm.turn().assigned == [AttemptRef(jobID: 1, attempt: 1)])
    }

    @Test func aHeartbeatSentBeforeAnUndrainArrivedDoesNotDrainTheWorkerAgain() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.drained = ["w1"]
        farm.handle(.workerChanged(name: "w1"))
        farm.turn()
        farm.drained = []
        farm.handle(.workerChanged(name: "w1"))
        farm.turn()
        // The worker's heartbeat from before it heard the undrain still says draining.
        var beat = HeartbeatBody()
        beat.draining = true
        _ = farm.send(.heartbeat(beat), from: a)
        farm.ready = [readyJob(1)]
        farm.handle(.jobsChanged(payload: ""))
        #expect(farm.turn().assigned == [AttemptRef(jobID: 1, attempt: 1)])
    }

    @Test func aWorkerThatDrainsItselfStaysDrainingWhenAnOperatorUndrainsIt() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        var drain = DrainBody()
        drain.draining = true
        drain.reason = "shutdown"
        _ = farm.send(.drain(drain), from: a)
        farm.drained = ["w1"]
        farm.handle(.workerChanged(name: "w1"))
        farm.turn()
        farm.drained = []
        farm.handle(.workerChanged(name: "w1"))
        farm.ready = [readyJob(1)]
        #expect(farm.turn().assigned.isEmpty)
    }

    @Test func anOperatorDrainedWorkerIsToldAgainAfterItsWelcome() {
        var farm = DispatcherDriver()
        farm.drained = ["w1"]
        let joined = farm.hello("w1", identity: a).sent(to: a)
        #expect(joined.count == 2)
        #expect(joined.first?.welcome != nil)
        guard case .drain(let body) = joined.last else {
            Issue.record("no DRAIN after WELCOME: \(joined)")
            return
        }
        #expect(body.draining && body.reason == "drained by an operator")
    }

    @Test func aSilentWorkerIsLostWithItsAttemptsAndHeartbeatsGoWhileItLives() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.ready = [readyJob(1)]
        farm.turn()
        farm.now = 1.0
        let beats = farm.turn().sent(to: a).filter(\.isHeartbeat)
        #expect(beats.count == 1)
        farm.now = 3.0
        #expect(farm.turn().failures.isEmpty)
        // Found by the next sweep of the roster, at most one sweep interval (10 ms) later.
        farm.now = 3.0 + farm.dispatcher.roster.sweepInterval + 0.001
        let lost = farm.turn()
        #expect(lost.failures.map(\.ref) == [AttemptRef(jobID: 1, attempt: 1)])
        #expect(lost.failures.first?.message == "worker w1 stopped answering")
        #expect(lost.contains(.store(.setWorkerStates([WorkerState(workerID: 1, state: "lost")]))))
        // Its next message is answered "unknown worker": it must say HELLO.
        let stray = farm.send(.heartbeat(HeartbeatBody()), from: a)
        #expect(stray.disconnects == [DisconnectReason.unknownWorker])
    }

    @Test func failuresBackOffWithJitterUntilTheAttemptsRunOut() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a, slots: 4)
        farm.ready = [readyJob(1, inRound: 1, maxAttempts: 3), readyJob(2, inRound: 3, maxAttempts: 3),
                      readyJob(3, inRound: 1, maxAttempts: 3), readyJob(4, inRound: 1, maxAttempts: 3)]
        farm.turn()
        func failed(_ job: Int64, _ errorClass: Keyfarm_Wire_V1_ErrorClass, retryAfter: Double = 0) -> WireMessage {
            var result = ResultBody()
            result.jobID = job
            result.attempt = 1
            result.outcome = .failed
            result.errorClass = errorClass
            result.retryAfterS = retryAfter
            return .result(result)
        }
        for message in [failed(1, .transient), failed(2, .transient), failed(3, .rateLimited, retryAfter: 30),
                        failed(4, .invalid)] {
            _ = farm.send(message, from: a)
        }
        let failures = Dictionary(uniqueKeysWithValues: farm.turn().failures.map { ($0.ref.jobID, $0.retryAfter) })
        #expect(failures.count == 4)
        #expect(failures[1]?.map { $0 >= 0 && $0 < 2 } == true)
        #expect(failures[2] == .some(nil))
        #expect(failures[3] == .some(30))
        #expect(failures[4] == .some(nil))
    }

    @Test func resultsAreAcknowledgedOnlyOnceTheyCommit() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.ready = [readyJob(1)]
        farm.turn()
        var result = ResultBody()
        result.jobID = 1
        result.attempt = 1
        result.outcome = .succeeded
        farm.resultsCommit = false
        _ = farm.send(.result(result), from: a)
        #expect(!farm.turn().sent(to: a).contains { if case .resultAck = $0 { true } else { false } })
        farm.resultsCommit = true
        _ = farm.send(.result(result), from: a)
        let turn = farm.turn()
        #expect(turn.sent(to: a).contains { if case .resultAck(let ack) = $0 { ack.jobID == 1 } else { false } })
        // A plain success is recorded with the set-based statement.
        let records = turn.queries.compactMap { if case .recordResults(let records) = $0 { records } else { nil } }.flatMap { $0 }
        #expect(records.first?.plainSuccess?.ref == AttemptRef(jobID: 1, attempt: 1))
    }

    @Test func aResultFromAnUnknownConnectionIsStillRecordedAndItIsToldToSayHello() {
        var farm = DispatcherDriver()
        var result = ResultBody()
        result.jobID = 5
        result.attempt = 2
        result.outcome = .succeeded
        let answer = farm.send(.result(result), from: b)
        #expect(answer.disconnects == [DisconnectReason.unknownWorker])
        let turn = farm.turn()
        #expect(turn.sent(to: b).contains { if case .resultAck(let ack) = $0 { ack.jobID == 5 } else { false } })
    }

    @Test func anAccountRefusalSuspendsTheProviderAndHandsTheJobBackUncounted() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.ready = [readyJob(1, engine: "luma/ray-3.2", kind: "segment")]
        farm.turn()
        var result = ResultBody()
        result.jobID = 1
        result.attempt = 1
        result.outcome = .failed
        result.provider = "luma"
        result.providerFailureCode = "budget_exhausted"
        result.error = "out of credits"
        _ = farm.send(.result(result), from: a)
        let records = farm.turn().queries.compactMap { if case .recordResults(let records) = $0 { records } else { nil } }
        #expect(records.first?.first?.commands == [
            .suspendProvider("luma", reason: "luma answered budget_exhausted: out of credits"),
            .handBack(AttemptRef(jobID: 1, attempt: 1), providerRequestID: nil, fresh: true)])
    }

    @Test func losingTheDatabaseForgetsEveryWorkerAsARestartWould() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.ready = [readyJob(1)]
        farm.turn()
        farm.handle(.databaseLost)
        #expect(farm.dispatcher.roster.members.isEmpty)
        #expect(farm.send(.heartbeat(HeartbeatBody()), from: a).disconnects == [DisconnectReason.unknownWorker])
    }

    @Test func aCancelledShotListsAttemptsAreToldToStop() {
        var farm = DispatcherDriver()
        farm.hello("w1", identity: a)
        farm.ready = [readyJob(1), readyJob(2)]
        farm.turn()
        farm.cancelled = [4: [2]]
        farm.handle(.jobsChanged(payload: "cancelled:4"))
        let cancels = farm.turn().sent(to: a).compactMap { if case .cancel(let body) = $0 { body.jobID } else { nil } }
        #expect(cancels == [2])
    }

    private func lease(_ ref: AttemptRef, worker: Int64, name: String) -> Lease {
        Lease(ref: ref, workerID: worker, workerName: name, maxAttempts: 3, attemptInRound: 1, engine: nil, kind: "smoke")
    }
}
