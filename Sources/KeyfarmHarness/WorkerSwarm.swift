import Foundation
import KeyfarmCore
import KeyfarmDecisions
import KeyfarmProtocol
import KeyfarmWire

/// Many simulated workers in one process, on one thread, for `keyfarm bench workers`: each is
/// the real worker protocol (`WorkerSession`) on a DEALER socket of its own, so the coordinator
/// sees as many connections, HELLOs, heartbeats and RESULTs as real workers would send. Only the
/// jobs are simulated: a smoke job ends after its `ms` (failing as its spec says) without a
/// thread of its own. Sockets are waited on with epoll over their notification descriptors, and
/// timers with a heap, so a turn costs what is ready rather than what is connected.
///
/// Once a second the swarm pushes a `Report` (JSON) to the bench: how many are welcomed, jobs
/// finished, and the heartbeat round trips measured since the last report.
public final class WorkerSwarm {
    public struct Settings: Sendable {
        /// The coordinator's endpoint.
        public var endpoint: String
        /// Where the bench pulls reports.
        public var reportEndpoint: String
        public var workers: Int
        /// Workers are named `<prefix>-<n>`.
        public var namePrefix: String
        public var slots = 4
        public var version: String

        public init(endpoint: String, reportEndpoint: String, workers: Int, namePrefix: String, version: String) {
            self.endpoint = endpoint
            self.reportEndpoint = reportEndpoint
            self.workers = workers
            self.namePrefix = namePrefix
            self.version = version
        }
    }

    /// What a swarm says once a second.
    public struct Report: Codable, Sendable {
        public var pid: Int32
        /// When it was sent (seconds since 1970); it covers the second before.
        public var at: Double
        public var workers: Int
        /// Workers whose connection is welcomed now.
        public var welcomed: Int
        /// Jobs finished since the swarm started.
        public var jobs: Int
        /// Heartbeat round trips since the last report, in microseconds.
        public var roundTrips: [UInt32]
        /// Sessions that logged an error (refused, lost their coordinator) since the start.
        public var errors: Int
    }

    /// One simulated worker.
    struct Simulated {
        var session: WorkerSession
        var socket: ZMQSocket?
        var descriptor: Int32 = -1
        /// Its running smoke jobs: when each ends and whether it succeeds.
        var jobs: [AttemptRef: (endsAt: Double, failure: String?, receivedAt: Int64)] = [:]
        /// The time of its live timer entry (infinity: none).
        var scheduledAt = Double.infinity
    }

    public let settings: Settings
    private var members: [Simulated] = []
    private var timers = TimerHeap()
    /// Workers sent something this turn (look for messages again) and those with a job to end.
    private var toDrain: Set<Int> = []
    private var jobsDue: Set<Int> = []
    private var roundTrips: [UInt32] = []
    private var jobsDone = 0
    private var errors = 0
    private var errorLines = 0
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private let instance = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    private var context: ZMQContext?
    private var poll: EventPoll?

    public init(settings: Settings) {
        self.settings = settings
        started = clock.now
    }

    var now: Double {
        (clock.now - started).inSeconds
    }

    /// Runs every simulated worker until `stop` is triggered, then closes their connections (as
    /// a killed process would: the coordinator finds them lost).
    public func run(until stop: StopSignal) throws {
        let context = try ZMQContext(ioThreads: 1, maxSockets: settings.workers + 16)
        self.context = context
        let poll = try EventPoll()
        self.poll = poll
        let reporter = try ZMQSocket(context: context, type: .push)
        try reporter.setLinger(milliseconds: 0)
        try reporter.connect(settings.reportEndpoint)
        defer {
            for index in members.indices { close(index) }
            reporter.close()
            context.terminate(waitingAtMost: .seconds(2))
        }
        try poll.add(stop.descriptor, tag: .max)
        members = (0..<settings.workers).map { number in
            var session = WorkerSession.Settings(name: "\(settings.namePrefix)-\(number)", instance: instance, slots: settings.slots)
            session.version = settings.version
            session.host = ProcessInfo.processInfo.hostName
            session.engines = ["smoke"]
            session.endpoints = [settings.endpoint]
            return Simulated(session: WorkerSession(settings: session))
        }
        for index in members.indices { schedule(index, at: 0) }
        var nextReport = now + 1
        while true {
            let wakeUp = min(timers.earliest ?? .infinity, nextReport)
            let milliseconds = Int32(min(max(0, (wakeUp - now) * 1000).rounded(.up), 1000))
            let ready = try poll.wait(milliseconds: milliseconds)
            if ready.contains(.max) { break }
            for tag in ready { try receive(Int(tag)) }
            try runTimers()
            while !toDrain.isEmpty || !jobsDue.isEmpty {
                while let index = toDrain.popFirst() { try receive(index) }
                while let index = jobsDue.popFirst() { try finishDueJobs(index) }
            }
            if now >= nextReport {
                nextReport = now + 1
                send(report(), on: reporter)
            }
        }
    }

    // MARK: - Events

    /// Hands a simulated worker an event and carries out what its session decides.
    private func handle(_ index: Int, _ event: WorkerSession.Event) throws {
        let at = now
        for action in members[index].session.handle(event, now: at) {
            switch action {
            case .connect(let number, let endpoint, let hello):
                close(index)
                try open(index, number: number, endpoint: endpoint)
                send(.hello(hello), from: index)
            case .close:
                close(index)
            case .send(let message):
                send(message, from: index)
            case .start(let body, _):
                start(index, body, now: at)
            case .cancel(let ref):
                if let job = members[index].jobs.removeValue(forKey: ref) {
                    try finish(index, ref, outcome: .cancelled, error: "cancelled by the coordinator", receivedAt: job.receivedAt)
                }
            case .requestHandBack, .acknowledgeSubmission, .status, .ready:
                // Smoke jobs run to their end (as the smoke engine does); there is no provider
                // and no systemd here.
                break
            case .log(let level, let message, _):
                if level >= .error {
                    errors += 1
                    if errorLines < 20 {
                        errorLines += 1
                        FileHandle.standardError.write(Data("swarm: \(members[index].session.settings.name): \(message)\n".utf8))
                    }
                }
            case .exit:
                close(index)
            case .roundTrip(let seconds):
                roundTrips.append(UInt32(clamping: Int((seconds * 1_000_000).rounded())))
            }
        }
        reschedule(index)
    }

    /// Reads every waiting message of one simulated worker.
    private func receive(_ index: Int) throws {
        while let socket = members[index].socket, let frames = try socket.receive(dontWait: true) {
            guard let message = try? WireMessage.decode(frames) else {
                try handle(index, .heard)
                continue
            }
            if case .assign(let body) = message {
                try handle(index, .received(message, runnable: body.kind == "smoke"))
            } else {
                try handle(index, .received(message))
            }
        }
    }

    /// Ticks every simulated worker whose timer is due, and ends its jobs that are due.
    private func runTimers() throws {
        let at = now
        while let (time, index) = timers.popDue(at: at) {
            guard time == members[index].scheduledAt else { continue }   // superseded
            members[index].scheduledAt = .infinity
            try finishDueJobs(index)
            try handle(index, .tick)
        }
    }

    /// Reports the RESULT of every job of one simulated worker whose time is up.
    private func finishDueJobs(_ index: Int) throws {
        let at = now
        for (ref, job) in members[index].jobs where job.endsAt <= at {
            members[index].jobs[ref] = nil
            if let failure = job.failure {
                try finish(index, ref, outcome: .failed, error: failure, receivedAt: job.receivedAt)
            } else {
                try finish(index, ref, outcome: .succeeded, error: "", receivedAt: job.receivedAt)
            }
        }
    }

    // MARK: - Jobs

    /// Starts a smoke job: it ends after its `ms`, failing on the attempts and at the rate its spec asks.
    private func start(_ index: Int, _ body: AssignBody, now: Double) {
        let ref = AttemptRef(jobID: body.jobID, attempt: Int(body.attempt))
        var failure: String?
        var milliseconds = 0
        do {
            let spec = try SmokeSpec(json: body.specJson).forAttempt(ref.attempt)
            milliseconds = max(spec.ms, 0)
            if ref.attempt <= spec.failAttempts {
                failure = "smoke job failed on purpose (attempt \(ref.attempt) of the first \(spec.failAttempts))"
            } else if spec.failRate > 0 && Double.random(in: 0..<1) < spec.failRate {
                failure = "smoke job failed on purpose (fail_rate \(spec.failRate))"
            }
        } catch {
            failure = "invalid smoke spec: \(error)"
        }
        members[index].jobs[ref] = (now + Double(milliseconds) / 1000, failure, WireMessage.nowMicroseconds())
        // A job of no length ends as soon as this event is handled, as a slot thread would end it.
        if milliseconds == 0 { jobsDue.insert(index) }
    }

    private func finish(_ index: Int, _ ref: AttemptRef, outcome: Keyfarm_Wire_V1_Outcome, error: String, receivedAt: Int64) throws {
        var result = ResultBody()
        result.jobID = ref.jobID
        result.attempt = UInt32(ref.attempt)
        result.receivedAtUnixUs = receivedAt
        result.outcome = outcome
        if outcome == .failed {
            result.errorClass = .transient
        }
        result.error = error
        jobsDone += 1
        try handle(index, .report(.result(result)))
    }

    // MARK: - Connections

    private func open(_ index: Int, number: Int, endpoint: String) throws {
        guard let context, let poll else { return }
        let socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.setIdentity(Array("\(members[index].session.settings.name)/\(instance)/\(number)".utf8))
        try socket.setHighWaterMarks(send: 10_000, receive: 10_000)
        try socket.connect(endpoint)
        let descriptor = try socket.notificationDescriptor()
        try poll.add(descriptor, tag: UInt64(index))
        members[index].socket = socket
        members[index].descriptor = descriptor
    }

    private func close(_ index: Int) {
        guard let socket = members[index].socket else { return }
        poll?.remove(members[index].descriptor)
        socket.close()
        members[index].socket = nil
        members[index].descriptor = -1
    }

    private func send(_ message: WireMessage, from index: Int) {
        guard let socket = members[index].socket else { return }
        _ = try? socket.send(message.frames(), dontWait: true)
        // A send can consume the signal of a message that arrived meanwhile: look again.
        toDrain.insert(index)
    }

    // MARK: - Timers and reports

    /// Makes sure the worker's timer fires by its session's next deadline or its next job's end.
    private func reschedule(_ index: Int) {
        let current = now
        var at = members[index].session.nextWakeUp(after: current)
        for job in members[index].jobs.values { at = min(at, job.endsAt) }
        // Never in the past: a timer that fires must move on, or the loop would spin on it.
        schedule(index, at: max(at, current + 0.000_5))
    }

    private func schedule(_ index: Int, at time: Double) {
        guard time < members[index].scheduledAt else { return }
        members[index].scheduledAt = time
        timers.push(time, index)
    }

    private func report() -> Report {
        defer { roundTrips.removeAll(keepingCapacity: true) }
        return Report(pid: getpid(), at: Date().timeIntervalSince1970, workers: members.count, welcomed: members.count { $0.session.welcomed },
                      jobs: jobsDone, roundTrips: roundTrips, errors: errors)
    }

    private func send(_ report: Report, on socket: ZMQSocket) {
        guard let body = try? JSONEncoder().encode(report) else { return }
        _ = try? socket.send([Array(body)], dontWait: true)
    }
}

/// A binary min-heap of (time, index) timer entries; superseded entries are skipped by the caller.
struct TimerHeap {
    private var entries: [(time: Double, index: Int)] = []

    var earliest: Double? { entries.first?.time }

    mutating func push(_ time: Double, _ index: Int) {
        entries.append((time, index))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].time < entries[parent].time else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    mutating func popDue(at now: Double) -> (Double, Int)? {
        guard let first = entries.first, first.time <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < entries.count && entries[left].time < entries[smallest].time { smallest = left }
                if right < entries.count && entries[right].time < entries[smallest].time { smallest = right }
                guard smallest != parent else { break }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}
