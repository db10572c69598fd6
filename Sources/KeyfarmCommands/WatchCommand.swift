import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmWire

/// `keyfarm watch [NAME]`: a live view of a shot list (or of every active one) until it finishes.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow a shot list (or every active one) live until it finishes.",
        discussion: """
            On a terminal, redraws in place: a progress bar per shot with its segments by state, \
            the workers running the list's jobs, an ETA from how long its finished segments took \
            (per engine; "ETA —" until one has finished), and credits spent against the estimate \
            and budgets. Otherwise (a pipe, a log) prints a line whenever a fact changes, or with \
            --json one JSON object per change.

            It wakes on the coordinator's notifications (LISTEN keyfarm_progress), at most four \
            times a second, and looks again every --interval seconds in any case.

            Without NAME, follows every active shot list (a bar per list, and every worker) until \
            none is left unfinished; lists submitted meanwhile join in.

            Exits 0 when every job succeeded, 1 when some failed for good or the list was \
            cancelled, 75 when --timeout passed first.
            """)

    @Argument(help: ArgumentHelp("The shot list's name; without it, every active shot list.", valueName: "name")) var name: String?
    @Option(help: ArgumentHelp("The project, when the name is used in several (without NAME: only its lists).",
                               valueName: "project")) var project: String?
    @Option(help: ArgumentHelp("Seconds between looks when no notification came.", valueName: "seconds")) var interval: Double = 1
    @Option(help: ArgumentHelp("Give up after this many seconds.", valueName: "seconds")) var timeout: Double = 86_400
    @Flag(help: "Print one JSON object per change instead of lines.") var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    /// At most this many looks a second, however many notifications arrive.
    static let minimumGap = 0.25

    func validate() throws {
        guard interval >= 0.05, interval <= 3600 else { throw ValidationError("--interval must be between 0.05 and 3600 seconds") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            var follower = try Follower(store: store, name: name, project: project)
            let console = Console.current
            let presenter: any WatchPresenter = if json {
                JSONPresenter(console: console, overview: name == nil)
            } else if console.isTerminal {
                TerminalPresenter(console: console, overview: name == nil)
            } else {
                LinePresenter(console: console, overview: name == nil)
            }
            // On a terminal, Ctrl-C must give the cursor back: the handler only wakes the loop.
            let stop = StopSignal()
            if console.isTerminal && !json { stop.installAsHandler(for: [SIGINT, SIGTERM]) }
            defer { presenter.finish() }

            let clock = ContinuousClock()
            let started = clock.now
            func elapsed() -> Double { (clock.now - started) / .seconds(1) }
            try store.connection.listen(FarmStore.progressChannel)
            try store.connection.listen(FarmStore.jobsChannel)
            try store.connection.listen(FarmStore.workersChannel)
            while true {
                let lookedAt = elapsed()
                let snapshot = try follower.look()
                presenter.show(snapshot, now: Date())
                if let verdict = follower.verdict(snapshot) {
                    presenter.finish()
                    if verdict.failed {
                        if !json {
                            for list in snapshot.lists where ["failed", "cancelled", "replaced"].contains(list.status.state) {
                                for shot in list.shots where shot.failure != nil { console.print("  \(shot.key): \(shot.failure!)") }
                            }
                        }
                        throw CommandFailure(verdict.message, status: ExitStatus.failure)
                    }
                    if let message = verdict.message.isEmpty ? nil : verdict.message, !json { console.print(message) }
                    return
                }
                if lookedAt > timeout {
                    presenter.finish()
                    throw CommandFailure(follower.timeoutMessage(snapshot, seconds: timeout), status: 75)
                }
                // Wait for a notification about what is watched (then at least the minimum gap
                // after the last look), the next look on the timer, the deadline, or Ctrl-C.
                var woken = false
                while true {
                    for notification in try store.connection.pollNotifications() where follower.cares(about: notification) {
                        woken = true
                    }
                    let due = min(woken ? lookedAt + Self.minimumGap : lookedAt + interval, timeout + 0.001)
                    let wait = due - elapsed()
                    if wait <= 0 { break }
                    var descriptors = [pollfd(fd: store.connection.socket, events: Int16(POLLIN), revents: 0),
                                       pollfd(fd: stop.descriptor, events: Int16(POLLIN), revents: 0)]
                    _ = poll(&descriptors, 2, Int32(min(wait * 1000 + 1, 60_000)))
                    if descriptors[1].revents != 0 {
                        presenter.finish()
                        var signal: UInt8 = 0
                        _ = read(stop.descriptor, &signal, 1)
                        throw CommandFailure("interrupted", status: 128 + Int32(signal == 0 ? UInt8(SIGINT) : signal))
                    }
                }
            }
        }
    }
}

/// Which lists a watch follows, what it reads each time, and when it is over.
struct Follower {
    let store: FarmStore
    /// The one list followed, or nil for every active list.
    let named: (id: Int64, name: String)?
    let project: String?
    /// Every list seen active so far (overview), in order of first sight.
    private(set) var seen: [Int64] = []

    init(store: FarmStore, name: String?, project: String?) throws {
        self.store = store
        self.project = project
        if let name {
            let resolved = try store.resolveShotList(name: name, project: project)
            named = (resolved.id, name)
        } else {
            named = nil
        }
    }

    mutating func look() throws -> WatchSnapshot {
        if let named { return try store.watchSnapshot(listIDs: [named.id]) }
        for id in try store.activeShotListIDs(project: project) where !seen.contains(id) { seen.append(id) }
        return try store.watchSnapshot(listIDs: seen)
    }

    /// Whether a notification may change what is shown: progress of a followed list, anything
    /// on the jobs channel (submits, cancels, releases), any worker change.
    func cares(about notification: PostgresNotification) -> Bool {
        guard notification.channel == FarmStore.progressChannel, let named else { return true }
        return notification.payload == "\(named.id)"
    }

    /// How the watch ends, once it does: nil while something it follows is unfinished.
    func verdict(_ snapshot: WatchSnapshot) -> (failed: Bool, message: String)? {
        if let named {
            guard let list = snapshot.lists.first else {
                return (true, "shot list \(named.name) is gone")
            }
            switch list.status.state {
            case "succeeded": return (false, "")
            case "failed", "cancelled", "replaced": return (true, "shot list \(list.status.name) \(list.status.state)")
            default: return nil
            }
        }
        guard snapshot.lists.allSatisfy({ !WatchFrame.isActive($0.status.state) }) else { return nil }
        guard !snapshot.lists.isEmpty else { return (false, "no active shot lists") }
        let failed = snapshot.lists.filter { ["failed", "cancelled"].contains($0.status.state) }
        if !failed.isEmpty {
            return (true, failed.map { "shot list \($0.status.name) \($0.status.state)" }.joined(separator: "; "))
        }
        return (false, "every shot list finished")
    }

    func timeoutMessage(_ snapshot: WatchSnapshot, seconds: Double) -> String {
        if named != nil, let list = snapshot.lists.first { return "still \(list.status.state) after \(Int(seconds)) s" }
        let unfinished = snapshot.lists.filter { WatchFrame.isActive($0.status.state) }.map(\.status.name)
        return "\(unfinished.count) shot list\(unfinished.count == 1 ? "" : "s") still unfinished after \(Int(seconds)) s: "
            + unfinished.joined(separator: ", ")
    }
}

/// Where snapshots go: a terminal, lines, or JSON.
protocol WatchPresenter: AnyObject {
    func show(_ snapshot: WatchSnapshot, now: Date)
    /// Called once the watch ends (any number of times): restores the terminal.
    func finish()
}

/// Redraws a frame in place, cut to the terminal's size.
final class TerminalPresenter: WatchPresenter {
    private let frame: Terminal.LiveFrame
    private let overview: Bool

    init(console: Console, overview: Bool) {
        frame = Terminal.LiveFrame(console: console)
        self.overview = overview
    }

    func show(_ snapshot: WatchSnapshot, now: Date) {
        let size = Terminal.size()
        frame.draw(WatchFrame.terminalLines(snapshot, overview: overview, now: now, width: size.columns,
                                            height: size.rows, ansi: true))
    }

    func finish() { frame.finish() }
}

/// Prints the lines whose facts changed, each with the time.
final class LinePresenter: WatchPresenter {
    private let console: Console
    private let overview: Bool
    private var printed: [String: String] = [:]

    init(console: Console, overview: Bool) {
        self.console = console
        self.overview = overview
    }

    func show(_ snapshot: WatchSnapshot, now: Date) {
        let lines = WatchFrame.plainLines(snapshot, overview: overview, now: now)
        let changed = lines.filter { printed[$0.key] != $0.text }
        guard changed.contains(where: { !$0.key.hasSuffix("eta") }) else { return }
        let stamp = ISO8601DateFormatter().string(from: now)
        for line in changed {
            printed[line.key] = line.text
            console.print("\(stamp)  \(line.text)")
        }
    }

    func finish() {}
}

/// One JSON object per change: for one list, the list; for the overview, every list and worker.
final class JSONPresenter: WatchPresenter {
    private let console: Console
    private let overview: Bool
    private var last: Data?

    init(console: Console, overview: Bool) {
        self.console = console
        self.overview = overview
    }

    struct List: Encodable {
        var shot_list: String
        var project: String
        var state: String
        var progress: Double
        var jobs_total: Int
        var jobs_succeeded: Int
        var jobs_running: Int
        var jobs_failed: Int
        var jobs_retrying: Int
        var jobs_blocked: Int
        var spent_credits: Int64
        var estimated_credits: Int64
        var reserved_credits: Int64
        var budget_credits: Int64?
        var eta_seconds: Double?
        var eta_is_lower_bound: Bool
        var shots: [Shot]?
        var workers: [Share]
        var at: Date?

        init(_ list: WatchedList, withShots: Bool, at: Date?) {
            let status = list.status
            shot_list = status.name; project = status.project; state = status.state; progress = status.progress
            jobs_total = status.jobsTotal; jobs_succeeded = status.jobsSucceeded; jobs_running = status.jobsRunning
            jobs_failed = status.jobsFailed; jobs_retrying = list.retrying; jobs_blocked = status.jobsBlocked
            spent_credits = status.spentCredits; estimated_credits = status.estimatedCredits
            reserved_credits = status.reservedCredits; budget_credits = status.budgetCredits
            let estimate = list.estimate
            eta_seconds = estimate.seconds.map { ($0 * 10).rounded() / 10 }
            eta_is_lower_bound = estimate.isLowerBound
            shots = withShots ? list.shots.map(Shot.init) : nil
            workers = list.workers.map { Share(name: $0.name, jobs: $0.jobs) }
            self.at = at
        }
    }

    struct Shot: Encodable {
        var id: String
        var state: String
        var progress: Double
        var segments: [String: Int]
        var stitch: String?

        init(_ shot: WatchedShot) {
            id = shot.key; state = shot.state; progress = shot.progress; segments = shot.segments; stitch = shot.stitch
        }
    }

    struct Share: Encodable {
        var name: String
        var jobs: Int
    }

    struct Overview: Encodable {
        var shot_lists: [List]
        var workers: [Worker]
        var at: Date?
    }

    struct Worker: Encodable {
        var name: String
        var state: String
        var running_jobs: Int
        var slots: Int
    }

    func show(_ snapshot: WatchSnapshot, now: Date) {
        let encoder = jsonEncoder(pretty: false)
        func document(at: Date?) -> any Encodable {
            if !overview, let list = snapshot.lists.first { return List(list, withShots: true, at: at) }
            return Overview(shot_lists: snapshot.lists.map { List($0, withShots: false, at: nil) },
                            workers: snapshot.connectedWorkers.map {
                                Worker(name: $0.name, state: $0.state, running_jobs: $0.runningJobs, slots: $0.slots)
                            }, at: at)
        }
        // A change is a change of anything but the time.
        guard let timeless = try? encoder.encode(document(at: nil)), timeless != last,
              let stamped = try? encoder.encode(document(at: now)) else { return }
        last = timeless
        console.print(String(decoding: stamped, as: UTF8.self))
    }

    func finish() {}
}
