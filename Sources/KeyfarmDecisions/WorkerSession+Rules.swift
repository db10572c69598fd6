import KeyfarmCore
import KeyfarmProtocol
import Logging

extension WorkerSession {
    /// Timers: connect when due, give up a silent connection, heartbeat, send results again,
    /// and end a drain (done, or out of time).
    mutating func tick(now: Double, into actions: inout [Action]) {
        if case .closed(let reconnectAt) = connection, now >= reconnectAt { connect(now: now, into: &actions) }
        if !isClosed, now - lastHeard > silenceLimit {
            var reason = welcomed ? "no heartbeat for \(liveness) intervals" : "no WELCOME"
            if !welcomed, let key = settings.curvePublicKey {
                // A refused CURVE handshake looks just like silence from here: say what to check.
                reason += "; with CURVE, check that this worker's public key \(key) is allowed "
                    + "(`keyfarm keys list`) and that --coordinator-public-key is the coordinator's current key"
            }
            drop(reason: reason, failover: true, now: now, into: &actions)
        }
        if welcomed && now - lastSent >= heartbeatInterval {
            var body = HeartbeatBody()
            body.freeSlots = UInt32(freeSlots)
            body.draining = draining
            body.ping = Self.pingToken(at: now)
            send(.heartbeat(body), now: now, into: &actions)
        }
        if welcomed && now >= nextResend { resendUnacknowledged(now: now, into: &actions) }
        if stopping && running.isEmpty && (unacknowledged.isEmpty || isClosed && !everWelcomed) {
            finish(status: 0, now: now, into: &actions)
        } else if stopping && now >= stopDeadline {
            actions.append(.log(.error, "drain timed out; exiting with jobs unreported", [
                "running": "\(running.count)", "unacknowledged": "\(unacknowledged.count)"]))
            finish(status: 1, now: now, into: &actions)
        }
    }

    /// Where in the first half of an interval this worker's heartbeats fall after a WELCOME,
    /// from 0 up to 0.5: FNV-1a of its name and instance, so the same worker keeps its phase
    /// and workers of one farm spread evenly.
    var heartbeatPhase: Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (settings.name + "/" + settings.instance).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return Double(hash % 1_000) / 2_000
    }

    /// A heartbeat's ping: the time it is sent, in microseconds, plus one (0 means no ping).
    static func pingToken(at now: Double) -> UInt64 {
        UInt64((max(now, 0) * 1_000_000).rounded()) + 1
    }

    var isClosed: Bool { if case .closed = connection { true } else { false } }

    /// Opens a connection and says HELLO with every attempt it still holds: running ones, and
    /// finished ones whose RESULT is unacknowledged.
    mutating func connect(now: Double, into actions: inout [Action]) {
        connections += 1
        connection = .awaitingWelcome
        lastHeard = now
        var hello = HelloBody()
        hello.name = settings.name
        hello.version = settings.version
        hello.host = settings.host
        hello.engines = settings.engines
        hello.slots = UInt32(settings.slots)
        hello.instance = settings.instance
        // Its own drain only: an operator's is the database's, and the coordinator says it again after WELCOME.
        hello.draining = stopping
        hello.storageRoot = settings.storageRoot
        let runningJobs = running.filter { !$0.value.abandoned }.map { ref, attempt in
            var job = RunningJobBody()
            job.jobID = ref.jobID
            job.attempt = UInt32(ref.attempt)
            job.providerRequestID = attempt.providerRequestID
            job.progress = Float(attempt.progress)
            return job
        }
        let finishedJobs = unacknowledged.map { ref, result in
            var job = RunningJobBody()
            job.jobID = ref.jobID
            job.attempt = UInt32(ref.attempt)
            job.providerRequestID = result.providerRequestID
            job.progress = 1
            return job
        }
        hello.running = (runningJobs + finishedJobs).sorted { ($0.jobID, $0.attempt) < ($1.jobID, $1.attempt) }
        lastSent = now
        actions.append(.connect(number: connections, endpoint: endpoint, hello: hello))
        actions.append(.log(.debug, "connecting", ["endpoint": "\(endpoint)", "connection": "\(connections)"]))
    }

    /// Closes the connection and schedules the next one: after the back-off (which doubles),
    /// or at once. A connection given up for silence (`failover`) moves on to the next
    /// endpoint, at once until every endpoint was tried since the last WELCOME.
    mutating func drop(reason: String, immediately: Bool = false, failover: Bool = false, now: Double,
                       into actions: inout [Action]) {
        var immediately = immediately
        if failover && settings.endpoints.count > 1 {
            noteLost(now: now)
            missesSinceWelcome += 1
            moveToNextEndpoint()
            if missesSinceWelcome % settings.endpoints.count != 0 { immediately = true }
        }
        actions.append(.log(.warning, "connection to the coordinator lost", [
            "reason": "\(reason)", "retry.seconds": "\(immediately ? 0 : reconnectDelay)", "next": "\(endpoint)"]))
        actions.append(.close)
        connection = .closed(reconnectAt: immediately ? now : now + reconnectDelay)
        if !immediately { reconnectDelay = min(reconnectDelay * 2, settings.reconnectMaximum) }
        actions.append(.status("reconnecting to \(endpoint)"))
    }

    /// DISCONNECT "standby": that coordinator does not lead. Goes to the leader it names at
    /// once, unless that is the coordinator this worker has just lost (then it asks the same
    /// standby again shortly: it takes over once the lease expires) or the hops go round in
    /// circles; with no leader named, it asks the next endpoint shortly.
    mutating func standby(leader: String, now: Double, into actions: inout [Action]) {
        let from = endpoint
        // The coordinator that led this connection stepped down or is stopping: for a while a
        // hint back to it is stale.
        noteLost(now: now)
        hopsSinceWelcome += 1
        let justLost = leader == lostEndpoint && now - lostAt < settings.lostLeaderWindow
        let follow = !leader.isEmpty && leader != from && !justLost && hopsSinceWelcome <= settings.endpoints.count + 2
        if follow {
            endpoint = leader
            if let index = settings.endpoints.firstIndex(of: leader) { endpointIndex = index }
        } else if justLost {
            // That standby is the one to lead next: ask it again.
        } else if settings.endpoints.count > 1 {
            moveToNextEndpoint()
        }
        actions.append(.log(.info, "the coordinator stands by", [
            "coordinator": "\(from)", "leader": "\(leader.isEmpty ? "unknown" : leader)", "next": "\(endpoint)"]))
        actions.append(.close)
        connection = .closed(reconnectAt: follow ? now : now + settings.standbyRetry)
        actions.append(.status("\(from) stands by; connecting to \(endpoint)"))
    }

    /// Remembers the coordinator of a welcomed connection as lost, now.
    mutating func noteLost(now: Double) {
        guard welcomed else { return }
        lostEndpoint = endpoint
        lostAt = now
    }

    /// The endpoint after the current one in the list (after the last one tried, when the
    /// current is a leader a standby named from outside the list).
    mutating func moveToNextEndpoint() {
        endpointIndex = ((settings.endpoints.firstIndex(of: endpoint) ?? endpointIndex) + 1) % settings.endpoints.count
        endpoint = settings.endpoints[endpointIndex]
    }

    mutating func send(_ message: WireMessage, now: Double, into actions: inout [Action]) {
        guard !isClosed else { return }
        lastSent = now
        actions.append(.send(message))
    }

    /// Sends every unacknowledged RESULT again; the coordinator records each attempt once.
    mutating func resendUnacknowledged(now: Double, into actions: inout [Action]) {
        for result in unacknowledged.values.sorted(by: { ($0.jobID, $0.attempt) < ($1.jobID, $1.attempt) }) {
            send(.result(result), now: now, into: &actions)
        }
        nextResend = unacknowledged.isEmpty ? .infinity : now + heartbeatInterval * Double(liveness)
    }

    /// SIGTERM: no new work, running attempts asked to hand themselves back, the coordinator told.
    mutating func beginStopping(now: Double, into actions: inout [Action]) {
        guard !stopping else { return }
        stopping = true
        stopDeadline = now + settings.drainTimeout
        actions.append(.log(.info, "stopping: finishing running jobs", ["running": "\(running.count)"]))
        actions.append(.status("draining: \(running.count) job(s) running"))
        for ref in running.keys.sorted() { actions.append(.requestHandBack(ref)) }
        if welcomed {
            var body = DrainBody()
            body.draining = true
            body.reason = "shutdown"
            send(.drain(body), now: now, into: &actions)
        }
    }

    /// Says goodbye (when welcomed) and exits.
    mutating func finish(status: Int32, now: Double, into actions: inout [Action]) {
        if welcomed {
            var body = DisconnectBody()
            body.reason = "shutdown"
            send(.disconnect(body), now: now, into: &actions)
        }
        actions.append(.exit(status))
    }

    /// A message from the coordinator.
    mutating func receive(_ message: WireMessage, runnable: Bool, now: Double, into actions: inout [Action]) {
        switch message {
        case .welcome(let body):
            welcome(body, now: now, into: &actions)
        case .assign(let body):
            assign(body, runnable: runnable, now: now, into: &actions)
        case .cancel(let body):
            let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
            if running[ref] != nil {
                actions.append(.cancel(ref))
            } else if unacknowledged[ref] == nil {
                // Not ours (any more): every accepted ASSIGN ends in one RESULT, so answer it.
                var result = ResultBody()
                result.jobID = body.jobID
                result.attempt = body.attempt
                result.outcome = .cancelled
                result.error = "not running on this worker"
                send(.result(result), now: now, into: &actions)
            }
        case .resultAck(let body):
            unacknowledged[AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))] = nil
        case .submittedAck(let body):
            let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
            if running[ref] != nil { actions.append(.acknowledgeSubmission(ref)) }
        case .drain(let body):
            drainedByOperator = body.draining
            actions.append(.log(.info, body.draining ? "drained by the coordinator" : "undrained", ["reason": "\(body.reason)"]))
            actions.append(.status(body.draining ? "drained: \(body.reason)" : "ready"))
        case .disconnect(let body) where body.reason == DisconnectReason.standby:
            standby(leader: body.leader, now: now, into: &actions)
        case .disconnect(let body):
            disconnected(reason: body.reason, now: now, into: &actions)
        case .heartbeat(let body):
            // The answer to one of this session's pings (its token is the time it was sent).
            if body.pong != 0 {
                let roundTrip = now - Double(body.pong - 1) / 1_000_000
                if roundTrip >= 0 && roundTrip < 3_600 { actions.append(.roundTrip(roundTrip)) }
            }
        case .hello, .accepted, .progress, .submitted, .result:
            actions.append(.log(.warning, "dropped a message only a worker sends", ["command": "\(message.command.rawValue)"]))
        }
    }

    /// DISCONNECT: "name in use", "worker key removed" and "registration failed" wait the
    /// back-off; "unknown worker" before this connection's WELCOME is ignored (it answers
    /// something sent before the HELLO, and the WELCOME will come); anything else reconnects
    /// at once.
    mutating func disconnected(reason: String, now: Double, into actions: inout [Action]) {
        switch reason {
        case DisconnectReason.nameInUse:
            actions.append(.log(.error, "another live worker uses the name \(settings.name); retrying after the back-off", [:]))
            drop(reason: "coordinator: name in use", now: now, into: &actions)
        case DisconnectReason.keyRemoved:
            let key = settings.curvePublicKey.map { " \($0)" } ?? ""
            actions.append(.log(.error, """
                the coordinator removed this worker's key\(key) from its allow-list: no jobs until \
                `keyfarm keys add` allows it again; retrying after the back-off
                """, [:]))
            drop(reason: "coordinator: worker key removed", now: now, into: &actions)
        case DisconnectReason.registrationFailed:
            // The database refuses this worker's HELLO (bad data, a missing privilege): trying
            // again at once would only hammer it.
            actions.append(.log(.error, "the coordinator's database refused this worker's registration; retrying after the back-off", [:]))
            drop(reason: "coordinator: registration failed", now: now, into: &actions)
        case DisconnectReason.unknownWorker where !welcomed:
            actions.append(.log(.debug, "ignored \"unknown worker\" while this connection's HELLO is unanswered", [:]))
        default:
            drop(reason: "coordinator: \(reason)", immediately: true, now: now, into: &actions)
        }
    }

    mutating func welcome(_ body: WelcomeBody, now: Double, into actions: inout [Action]) {
        connection = .welcomed
        refusalLogged = false
        missesSinceWelcome = 0
        hopsSinceWelcome = 0
        // An operator's drain is the coordinator's to say again (DRAIN right after WELCOME):
        // one lifted while this worker was away is not kept.
        drainedByOperator = false
        reconnectDelay = settings.reconnectMinimum
        if body.heartbeatIntervalMs > 0 { heartbeatInterval = Double(body.heartbeatIntervalMs) / 1000 }
        if body.liveness > 0 { liveness = Int(body.liveness) }
        // Workers welcomed together (a coordinator takes hundreds of HELLOs a turn) would
        // heartbeat together for ever after: the first heartbeat comes half an interval to a
        // whole one from now, spread by this worker's name and process.
        lastSent = now - heartbeatInterval * heartbeatPhase
        // An adopted attempt's provider request id is stored: the WELCOME stands for its SUBMITTED_ACK.
        for job in body.adopted where !job.providerRequestID.isEmpty {
            let ref = AttemptRef(jobID: job.jobID, attempt: Int(job.attempt))
            if running[ref] != nil { actions.append(.acknowledgeSubmission(ref)) }
        }
        // Abandoned attempts stop; their RESULT still goes (as CANCELLED) so any credits are booked.
        for job in body.abandon {
            let ref = AttemptRef(jobID: job.jobID, attempt: Int(job.attempt))
            guard running[ref] != nil else { continue }
            actions.append(.cancel(ref))
            running[ref]?.abandoned = true
        }
        // A drain that began before this WELCOME (its HELLO may not have said it) is said now.
        if stopping {
            var drain = DrainBody()
            drain.draining = true
            drain.reason = "shutdown"
            send(.drain(drain), now: now, into: &actions)
        }
        // Results the coordinator may not have recorded: send them again; repeats are harmless.
        resendUnacknowledged(now: now, into: &actions)
        if everWelcomed {
            actions.append(.status("connected to \(endpoint)"))
        } else {
            everWelcomed = true
            actions.append(.ready("connected to \(endpoint), \(settings.slots) slot(s)"))
        }
        actions.append(.log(.info, "connected", ["endpoint": "\(endpoint)", "adopted": "\(body.adopted.count)",
                                                 "abandoned": "\(body.abandon.count)"]))
    }

    /// ASSIGN: a duplicate is ACCEPTED again and never runs twice; a finished one gets its
    /// RESULT again; without a free slot it is handed back; without an engine it fails
    /// (transient: the job goes elsewhere, and this worker is soon blocklisted for the shot).
    mutating func assign(_ body: AssignBody, runnable: Bool, now: Double, into actions: inout [Action]) {
        let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
        let receivedAt = WireMessage.nowMicroseconds()
        if running[ref] != nil {
            var again = AcceptedBody()
            again.jobID = body.jobID
            again.attempt = body.attempt
            again.receivedAtUnixUs = receivedAt
            send(.accepted(again), now: now, into: &actions)
            return
        }
        if let pending = unacknowledged[ref] {
            send(.result(pending), now: now, into: &actions)
            return
        }
        var refusal = ResultBody()
        refusal.jobID = body.jobID
        refusal.attempt = body.attempt
        refusal.receivedAtUnixUs = receivedAt
        guard freeSlots > 0 else {
            refusal.outcome = .handedBack
            refusal.providerRequestID = body.resumeProviderRequestID
            keep(refusal, now: now, into: &actions)
            return
        }
        guard runnable else {
            refusal.outcome = .failed
            refusal.errorClass = .transient
            refusal.error = "worker \(settings.name) has no engine for \(body.kind) \(body.engine)"
            keep(refusal, now: now, into: &actions)
            return
        }
        running[ref] = Attempt(engine: body.engine, providerRequestID: body.resumeProviderRequestID)
        var accepted = AcceptedBody()
        accepted.jobID = body.jobID
        accepted.attempt = body.attempt
        accepted.receivedAtUnixUs = receivedAt
        send(.accepted(accepted), now: now, into: &actions)
        actions.append(.start(body, handBack: stopping))
    }

    /// Keeps a RESULT until acknowledged and sends it when welcomed.
    mutating func keep(_ result: ResultBody, now: Double, into actions: inout [Action]) {
        unacknowledged[AttemptRef(jobID: result.jobID, attempt: Int(result.attempt))] = result
        if welcomed {
            send(.result(result), now: now, into: &actions)
            if nextResend == .infinity { nextResend = now + heartbeatInterval * Double(liveness) }
        }
    }

    /// PROGRESS, SUBMITTED or RESULT from a job thread.
    mutating func report(_ message: WireMessage, now: Double, into actions: inout [Action]) {
        switch message {
        case .progress(let body):
            let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
            guard running[ref]?.abandoned == false else { return }
            running[ref]?.progress = Double(body.fraction)
            if welcomed { send(message, now: now, into: &actions) }
        case .submitted(let body):
            let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
            running[ref]?.providerRequestID = body.requestID
            if welcomed { send(message, now: now, into: &actions) }
        case .result(var body):
            let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
            let attempt = running.removeValue(forKey: ref)
            if attempt?.abandoned == true && body.outcome != .succeeded { body.outcome = .cancelled }
            if body.providerRequestID.isEmpty, let id = attempt?.providerRequestID { body.providerRequestID = id }
            // A stopped attempt's RESULT names the provider of the request it carries.
            if body.provider.isEmpty, !body.providerRequestID.isEmpty, let engine = attempt?.engine,
               let slash = engine.firstIndex(of: "/") {
                body.provider = String(engine[..<slash])
            }
            keep(body, now: now, into: &actions)
            if stopping { actions.append(.status("draining: \(running.count) job(s) running")) }
        default:
            break
        }
    }
}
