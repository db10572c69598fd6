import Foundation
import KeyfarmCore
import KeyfarmDecisions
import KeyfarmProtocol

/// Drives a `Dispatcher` as the reactor does, with a test clock and a small in-memory stand-in
/// for the database's answers: queries are answered at once and their consequences collected
/// in order, so a test reads the actions a real coordinator would carry out.
struct DispatcherDriver {
    var dispatcher: Dispatcher
    var now: Double = 0
    /// Attempts leased per worker id, as the database would answer `leases(workerID:)`.
    var leases: [Int64: [Lease]] = [:]
    /// Worker ids by name, handed out at registration.
    var workerIDs: [String: Int64] = [:]
    /// Workers an operator drained.
    var drained: Set<String> = []
    /// Jobs the next claims hand out, in order.
    var ready: [ClaimedJob] = []
    /// The allow-list.
    var keys: [(name: String, publicKey: String)] = []
    /// Cancelled jobs by shot list.
    var cancelled: [Int64: Set<Int64>] = [:]
    /// Whether recorded results commit.
    var resultsCommit = true
    /// Every action carried out, in order, queries included.
    var log: [Dispatcher.Action] = []

    init(settings: Dispatcher.Settings = Dispatcher.Settings()) {
        dispatcher = Dispatcher(settings: settings, seed: 42)
    }

    /// Hands an event over and carries out the actions; returns them (answers' consequences included).
    @discardableResult
    mutating func handle(_ event: Dispatcher.Event) -> [Dispatcher.Action] {
        var done: [Dispatcher.Action] = []
        for action in dispatcher.handle(event, now: now) {
            done.append(action)
            log.append(action)
            apply(action)
            if case .query(let query) = action { done += handle(answer(query)) }
        }
        return done
    }

    /// A whole reactor turn: drains, the turn's writes and claims, the announcement, timers.
    @discardableResult
    mutating func turn() -> [Dispatcher.Action] {
        handle(.beginTurn) + handle(.registerWorkers) + handle(.writeTurn) + handle(.endTurn) + handle(.tick)
    }

    /// Says HELLO from a connection and has the turn register it; returns the actions (WELCOME
    /// among them).
    @discardableResult
    mutating func hello(_ name: String, identity: Identity, instance: String = "i1", slots: UInt32 = 2,
                        running: [AttemptRef] = [], key: String? = nil, draining: Bool = false) -> [Dispatcher.Action] {
        var body = HelloBody()
        body.name = name
        body.instance = instance
        body.slots = slots
        body.engines = ["smoke"]
        body.draining = draining
        body.running = running.map {
            var job = RunningJobBody()
            job.jobID = $0.jobID
            job.attempt = UInt32($0.attempt)
            return job
        }
        return handle(.received(.hello(body), from: identity, key: key)) + handle(.registerWorkers)
    }

    mutating func send(_ message: WireMessage, from identity: Identity, key: String? = nil) -> [Dispatcher.Action] {
        handle(.received(message, from: identity, key: key))
    }

    /// What the database does with a write: leases end with their attempts.
    private mutating func apply(_ action: Dispatcher.Action) {
        guard case .store(let command) = action else { return }
        switch command {
        case .completeFailure(let ref, _, _, _, _), .handBack(let ref, _, _), .dropReuse(let ref, _):
            release(ref)
        case .completeSuccess(let success):
            release(success.ref)
        default:
            break
        }
    }

    private mutating func release(_ ref: AttemptRef) {
        for (worker, held) in leases { leases[worker] = held.filter { $0.ref != ref } }
    }

    private mutating func answer(_ query: Query) -> Dispatcher.Event {
        switch query {
        case .register(let identity, let hello):
            let id = workerIDs[hello.name] ?? Int64(workerIDs.count + 1)
            workerIDs[hello.name] = id
            return .registered(identity, hello, workerID: id, drainedByOperator: drained.contains(hello.name),
                               leases: leases[id] ?? [])
        case .leasesToLose(let workerID, let reason, let finalState):
            return .leasesToLose(leases[workerID] ?? [], workerID: workerID, reason: reason, finalState: finalState)
        case .drainStates(let names):
            return .drainStates(Dictionary(uniqueKeysWithValues: names.map { ($0, drained.contains($0)) }))
        case .cancelledJobs(let list):
            return .cancelledJobs(cancelled[list] ?? [])
        case .workerKeys:
            return .keysLoaded(keys)
        case .claim(let groups, _):
            var answers: [ClaimAnswer] = []
            for group in groups {
                var jobs: [(workerID: Int64, job: ClaimedJob)] = []
                for worker in group.slots where !ready.isEmpty {
                    let job = ready.removeFirst()
                    jobs.append((worker, job))
                    let name = workerIDs.first { $0.value == worker }?.key ?? "?"
                    leases[worker, default: []].append(Lease(
                        ref: AttemptRef(jobID: job.jobID, attempt: job.attempt), workerID: worker, workerName: name,
                        maxAttempts: job.maxAttempts, attemptInRound: job.attemptInRound, engine: job.engine, kind: job.kind))
                }
                answers.append(ClaimAnswer(jobs: jobs, requested: group.slots.count))
            }
            return .claimed(answers)
        case .recordResults(let records):
            if resultsCommit { for record in records { for command in record.commands { apply(.store(command)) } } }
            return .resultsRecorded(resultsCommit ? records : [])
        case .pruneLogs:
            return .logsPruned(0, refusal: nil)
        }
    }
}

/// A ready smoke job as a claim hands it out.
func readyJob(_ id: Int64, attempt: Int = 1, inRound: Int = 1, maxAttempts: Int = 3, engine: String? = nil,
              kind: String = "smoke") -> ClaimedJob {
    ClaimedJob(jobID: id, attemptID: id * 100 + Int64(attempt), attempt: attempt, key: "sh010/j\(id)", kind: kind,
               engine: engine, priority: 0, spec: "{}", leaseExpiresAt: Date(timeIntervalSince1970: 0),
               maxAttempts: maxAttempts, attemptInRound: inRound, shotList: "list", project: "demo",
               resumeProviderRequestID: nil)
}

extension Array where Element == Dispatcher.Action {
    /// The messages sent to a connection, in order (ASSIGNs included).
    func sent(to identity: Identity) -> [WireMessage] {
        compactMap {
            switch $0 {
            case .send(let message, let target) where target == identity: message
            case .assign(let body, let target) where target == identity: .assign(body)
            default: nil
            }
        }
    }

    /// Every write, those of recorded results included.
    var commands: [StoreCommand] {
        flatMap { action -> [StoreCommand] in
            switch action {
            case .store(let command): [command]
            case .query(.recordResults(let records)): records.flatMap(\.commands)
            default: []
            }
        }
    }

    /// Every failure written, with its retry decision.
    var failures: [(ref: AttemptRef, errorClass: ErrorClass, message: String, retryAfter: Double?)] {
        commands.compactMap {
            guard case .completeFailure(let ref, let errorClass, let error, let retryAfter, _) = $0 else { return nil }
            return (ref, errorClass, error, retryAfter)
        }
    }

    var assigned: [AttemptRef] {
        compactMap {
            guard case .assign(let body, _) = $0 else { return nil }
            return AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
        }
    }

    var disconnects: [String] {
        compactMap {
            switch $0 {
            case .send(.disconnect(let body), _): body.reason
            case .refuse(let reason, _): reason
            default: nil
            }
        }
    }

    var queries: [Query] {
        compactMap { if case .query(let query) = $0 { query } else { nil } }
    }
}

extension WireMessage {
    var welcome: WelcomeBody? { if case .welcome(let body) = self { body } else { nil } }
    var isHeartbeat: Bool { if case .heartbeat = self { true } else { false } }
}
