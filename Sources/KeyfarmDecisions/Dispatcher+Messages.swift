import KeyfarmCore
import KeyfarmProtocol
import Logging

extension Dispatcher {
    /// One decoded message from a worker connection.
    mutating func receive(_ message: WireMessage, from identity: Identity, key: String?, now: Double,
                          into actions: inout [Action]) {
        if case .hello(let hello) = message {
            self.hello(hello, from: identity, key: key, now: now, into: &actions)
            return
        }
        guard roster.heard(from: identity, now: now) else {
            // A worker we do not know (we restarted, or it was declared lost): it must say HELLO.
            // Its RESULT is recorded all the same: the database knows whether it still counts.
            if case .disconnect = message { return }
            sendDisconnect(DisconnectReason.unknownWorker, to: identity, now: now, into: &actions)
            if case .result(let result) = message { results.append((identity, result)) }
            return
        }
        switch message {
        case .heartbeat(let body):
            // Its `draining` is not read: a worker's own drain comes in DRAIN and HELLO, an
            // operator's from the database, and a heartbeat sent before an undrain reached the
            // worker would drain it again. A ping is answered at once; the answer counts as
            // this side's heartbeat.
            if body.ping != 0 {
                var pong = HeartbeatBody()
                pong.pong = body.ping
                send(.heartbeat(pong), to: identity, now: now, into: &actions)
            }
        case .accepted(let body):
            let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
            unconfirmedAssigns[ref] = nil
            accepted.append(AcceptedAttempt(ref: ref, receivedAtMicroseconds: body.receivedAtUnixUs))
            clocks.heard(ref, now: now)
        case .progress(let body):
            let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
            progress[ref] = Double(body.fraction)
            clocks.heard(ref, now: now)
        case .submitted(let body):
            // Stored before the acknowledgement: the worker polls only once the id is safe.
            let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
            clocks.heard(ref, now: now)
            actions.append(.store(.recordProviderRequest(ref, provider: body.provider, requestID: body.requestID)))
            var ack = SubmittedAckBody()
            ack.jobID = body.jobID
            ack.attempt = body.attempt
            send(.submittedAck(ack), to: identity, now: now, into: &actions)
        case .result(let body):
            results.append((identity, body))
        case .drain(let body):
            if body.draining { drainingItself.insert(identity) } else { drainingItself.remove(identity) }
            updateDraining(identity)
            if let member = roster.member(identity) {
                actions.append(.store(.setWorkerStates([WorkerState(workerID: member.workerID,
                                                                    state: member.draining ? "draining" : "ready")])))
            }
            actions.append(.log(.info, "worker draining", ["worker.name": "\(roster.member(identity)?.name ?? "?")",
                                                           "draining": "\(body.draining)"]))
        case .disconnect(let body):
            // What it sent before saying goodbye is recorded first.
            flush(into: &actions)
            if let member = roster.remove(identity) {
                actions.append(.log(.info, "worker said goodbye", ["worker.name": "\(member.name)", "reason": "\(body.reason)"]))
                lose(member, reason: "worker disconnected", finalState: "offline", into: &actions)
            }
        case .hello, .welcome, .assign, .submittedAck, .resultAck, .cancel:
            actions.append(.log(.warning, "dropped a message only a coordinator sends", [
                "worker.identity": "\(WireMessage.describe(identity: identity))", "command": "\(message.command.rawValue)"]))
        }
    }

    /// A HELLO: refused at once when its key is gone, it is malformed, or its name belongs to
    /// another live process; otherwise registered in the database by the turn's transaction
    /// (`.registerWorkers`; `.registered` continues).
    mutating func hello(_ hello: HelloBody, from identity: Identity, key: String?, now: Double,
                        into actions: inout [Action]) {
        if settings.curve {
            // Admitted by ZAP under a key that may have been removed since.
            guard let key, gate.name(ofAllowed: key) != nil else {
                actions.append(.log(.warning, "refused a worker whose key was removed; it gets no job", [
                    "worker.name": "\(hello.name)", "worker.public_key": "\(key ?? "none")"]))
                sendDisconnect(DisconnectReason.keyRemoved, to: identity, now: now, into: &actions)
                return
            }
            workerKeys[identity] = key
        }
        guard !hello.name.isEmpty, hello.slots > 0, hello.slots <= 4096 else {
            actions.append(.log(.warning, "dropped a HELLO without a name or with impossible slots", [
                "worker.identity": "\(WireMessage.describe(identity: identity))", "slots": "\(hello.slots)"]))
            return
        }
        // The same name on another identity: a second live process is refused; a silent one
        // (the same machine after a restart) or the same instance reconnecting is replaced.
        // One waiting for this turn's registration counts as live.
        let waiting = pendingInstances[hello.name].map { $0 != hello.instance } ?? false
        let live = roster.member(named: hello.name).map {
            $0.identity != identity && $0.instance != hello.instance && roster.isAlive($0.identity, now: now)
        } ?? false
        if waiting || live {
            actions.append(.log(.error, "refused a worker: another live instance uses its name", [
                "worker.name": "\(hello.name)", "worker.identity": "\(WireMessage.describe(identity: identity))"]))
            actions.append(.refuse(reason: DisconnectReason.nameInUse, to: identity))
            return
        }
        if let previous = roster.member(named: hello.name), previous.identity != identity {
            roster.remove(previous.identity)
        }
        pendingHellos.append((identity, hello))
        pendingInstances[hello.name] = hello.instance
    }

    /// The database registered a worker: it joins the roster, keeps what it runs, is sent
    /// again what its HELLO crossed, loses the rest of its leases, and is told to abandon what
    /// is not its own (see `HelloReconciliation`).
    mutating func welcome(_ identity: Identity, _ hello: HelloBody, workerID: Int64, drainedByOperator: Bool,
                          leases: [Lease], now: Double, into actions: inout [Action]) {
        let draining = drainedByOperator || hello.draining
        if hello.draining { drainingItself.insert(identity) } else { drainingItself.remove(identity) }
        if drainedByOperator { self.drainedByOperator.insert(identity) } else { self.drainedByOperator.remove(identity) }
        storageRoots[identity] = hello.storageRoot.isEmpty ? nil : hello.storageRoot
        roster.join(identity: identity, workerID: workerID, name: hello.name, instance: hello.instance,
                    engines: hello.engines, slots: Int(hello.slots), draining: draining, now: now)
        unclaimedLeases[hello.name] = nil
        let reported = Dictionary(hello.running.map { (AttemptRef(jobID: $0.jobID, attempt: Int($0.attempt)), $0) },
                                  uniquingKeysWith: { first, _ in first })
        var reply = WelcomeBody()
        reply.workerID = workerID
        reply.heartbeatIntervalMs = UInt32(settings.heartbeatInterval * 1000)
        reply.liveness = UInt32(settings.liveness)
        let decision = HelloReconciliation.decide(
            leased: leases.map(\.ref), reported: Set(reported.keys), stopping: Set(stopping.keys),
            unconfirmed: Set(unconfirmedAssigns.filter { $0.value.instance == hello.instance }.keys))
        var resend: [AssignBody] = []
        var acks: [SubmittedAckBody] = []
        for lease in leases {
            if decision.resend.contains(lease.ref), let assign = unconfirmedAssigns[lease.ref] {
                roster.assign(lease.ref, to: identity)
                limits[lease.ref] = lease.limit
                resend.append(assign.body)
            } else if let running = reported[lease.ref], decision.adopt.contains(lease.ref) {
                roster.assign(lease.ref, to: identity)
                limits[lease.ref] = lease.limit
                // Its clocks start again: how long it ran before is not known here.
                startClocks(lease.ref, engine: lease.engine, kind: lease.kind, now: now)
                reply.adopted.append(running)
                if !running.providerRequestID.isEmpty {
                    // A submission whose acknowledgement the crash may have swallowed: store it, then ack.
                    actions.append(.store(.recordProviderRequest(lease.ref, provider: "", requestID: running.providerRequestID)))
                    var ack = SubmittedAckBody()
                    ack.jobID = lease.ref.jobID
                    ack.attempt = UInt32(lease.ref.attempt)
                    acks.append(ack)
                }
            } else if decision.lose.contains(lease.ref) {
                // Leased to it, but it does not run it (the ASSIGN was lost, or it restarted).
                recordLoss(lease.ref, limit: lease.limit, reason: "worker \(hello.name) reconnected without it",
                           into: &actions)
            }
        }
        for ref in decision.abandon { if let running = reported[ref] { reply.abandon.append(running) } }
        send(.welcome(reply), to: identity, now: now, into: &actions)
        if drainedByOperator {
            // The worker forgets an operator's drain at WELCOME: the database's word follows it.
            var drain = DrainBody()
            drain.draining = true
            drain.reason = "drained by an operator"
            send(.drain(drain), to: identity, now: now, into: &actions)
        }
        for var body in resend {
            actions.append(.log(.info, "a HELLO crossed an ASSIGN; sending it again", [
                "worker.name": "\(hello.name)", "job.id": "\(body.jobID)", "job.attempt": "\(body.attempt)"]))
            body.sentAtUnixUs = WireMessage.nowMicroseconds()
            send(.assign(body), to: identity, now: now, into: &actions)
        }
        for ack in acks { send(.submittedAck(ack), to: identity, now: now, into: &actions) }
        actions.append(.store(.setWorkerStates([WorkerState(workerID: workerID, state: draining ? "draining" : "ready")])))
        actions.append(.log(.info, "worker joined", ["worker.name": "\(hello.name)", "worker.slots": "\(hello.slots)",
                                                     "adopted": "\(reply.adopted.count)",
                                                     "abandoned": "\(reply.abandon.count)"]))
        wantClaim = true
    }

    /// The database refused a worker's registration: that worker is turned away, the
    /// coordinator goes on.
    mutating func refuseRegistration(_ identity: Identity, _ hello: HelloBody, error: String, into actions: inout [Action]) {
        if let member = roster.remove(identity) {
            lose(member, reason: "its registration failed", finalState: "offline", into: &actions)
        }
        actions.append(.log(.error, "refused a worker: the database did not accept its registration", [
            "worker.name": "\(hello.name)", "worker.identity": "\(WireMessage.describe(identity: identity))",
            "error": "\(error)"]))
        actions.append(.refuse(reason: DisconnectReason.registrationFailed, to: identity))
    }

    /// A worker drains while it drains itself or an operator drained it.
    mutating func updateDraining(_ identity: Identity) {
        roster.setDraining(identity, drainingItself.contains(identity) || drainedByOperator.contains(identity))
    }

    /// Sends a message, noting it for the heartbeat schedule.
    mutating func send(_ message: WireMessage, to identity: Identity, now: Double, into actions: inout [Action]) {
        roster.sent(to: identity, now: now)
        actions.append(.send(message, to: identity))
    }

    /// Tells a worker why the coordinator will not (or no longer) serve its connection.
    mutating func sendDisconnect(_ reason: String, to identity: Identity, now: Double, into actions: inout [Action]) {
        var body = DisconnectBody()
        body.reason = reason
        send(.disconnect(body), to: identity, now: now, into: &actions)
    }

    /// Tells a worker to stop an attempt (CANCEL); its RESULT, if it can still send one, ends it.
    mutating func sendCancel(_ ref: AttemptRef, reason: String, to identity: Identity, now: Double,
                             into actions: inout [Action]) {
        var body = CancelBody()
        body.jobID = ref.jobID
        body.attempt = UInt32(ref.attempt)
        body.reason = reason
        send(.cancel(body), to: identity, now: now, into: &actions)
    }
}
