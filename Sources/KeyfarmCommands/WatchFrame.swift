import Foundation
import KeyfarmCore
import KeyfarmStore

/// What `keyfarm watch` prints for a snapshot: pure functions from a `WatchSnapshot` to lines,
/// one set for a terminal (redrawn in place, cut to its width and height) and one for logs and
/// pipes (a line per fact, printed when it changes).
enum WatchFrame {
    /// Segment states in the order they are listed, with the words used for them.
    static let segmentStates: [(state: String, word: String, style: StyledLine.Style?)] = [
        ("succeeded", "done", .green), ("running", "running", .cyan), ("retry_wait", "retrying", .yellow),
        ("queued", "queued", nil), ("waiting", "waiting", .dim), ("blocked", "blocked", .yellow),
        ("failed", "failed", .red), ("cancelled", "cancelled", .dim),
    ]

    // MARK: - A terminal

    /// The frame for a terminal `width` columns wide and `height` rows high: for one list
    /// (`overview` false) a bar per shot; for the farm, a bar per list. Workers last.
    static func terminalLines(_ snapshot: WatchSnapshot, overview: Bool, now: Date, width: Int, height: Int,
                              ansi: Bool) -> [String] {
        var lines: [StyledLine] = []
        let barWidth = min(max(width / 4, 10), 30)
        if overview {
            var header = StyledLine("keyfarm", .bold)
            let active = snapshot.lists.filter { isActive($0.status.state) }.count
            header.append(" · \(active) active shot list\(active == 1 ? "" : "s") · \(clock(now))")
            lines.append(header)
            if snapshot.lists.isEmpty { lines.append(StyledLine("  no active shot lists", .dim)) }
            let nameWidth = snapshot.lists.map { $0.status.name.count }.max() ?? 0
            for list in snapshot.lists {
                var line = StyledLine("  " + pad(list.status.name, nameWidth) + "  ")
                line = line + bar(list.status.progress, width: barWidth, state: list.status.state)
                line.append(" " + percent(list.status.progress) + "  ")
                line = line + stateWord(list.status.state)
                line.append("  \(list.status.jobsSucceeded)/\(list.status.jobsTotal) jobs · " + eta(list, now: now)
                            + " · " + creditsSummary(list))
                lines.append(line)
            }
        } else {
            for list in snapshot.lists {
                var header = StyledLine(list.status.name, .bold)
                header.append(" (project \(list.status.project)) · ")
                header = header + stateWord(list.status.state)
                header.append(" · \(percent(list.status.progress)) · \(list.status.jobsSucceeded)/\(list.status.jobsTotal) jobs done"
                              + (isActive(list.status.state) ? " · elapsed \(duration(now.timeIntervalSince(list.status.createdAt)))" : "")
                              + " · " + eta(list, now: now))
                lines.append(header)
                let keyWidth = list.shots.map(\.key.count).max() ?? 0
                for shot in list.shots {
                    var line = StyledLine("  " + pad(shot.key, keyWidth) + "  ")
                    line = line + bar(shot.progress, width: barWidth, state: shot.state)
                    line.append(" " + pad(percent(shot.progress), 4, right: true) + "  ")
                    line = line + segments(shot, ansi: true)
                    lines.append(line)
                }
                lines.append(StyledLine("  credits: " + credits(list)))
                lines.append(StyledLine("  workers: " + listWorkers(list, connected: snapshot.connectedWorkers.count)))
                let needs = attention(list)
                if !needs.isEmpty { lines.append(StyledLine("  " + needs, .yellow)) }
            }
        }
        if overview {
            let live = snapshot.connectedWorkers
            let running = live.reduce(0) { $0 + $1.runningJobs }, slots = live.reduce(0) { $0 + $1.slots }
            lines.append(StyledLine("workers: \(live.count) connected, \(running) of \(slots) slots busy", .bold))
            let nameWidth = live.map(\.name.count).max() ?? 0
            for worker in live {
                var line = StyledLine("  " + pad(worker.name, nameWidth) + "  ")
                line.append(pad(worker.state, 8), worker.state == "draining" ? .yellow : worker.runningJobs > 0 ? .cyan : .dim)
                line.append("  \(worker.runningJobs)/\(worker.slots) slots  " + worker.engines.joined(separator: ","))
                lines.append(line)
            }
        }
        // Never more lines than the terminal has rows, or the cursor could not get back up.
        let room = max(height - 1, 2)
        if lines.count > room {
            let hidden = lines.count - room + 1
            lines = Array(lines.prefix(room - 1)) + [StyledLine("  … \(hidden) more line\(hidden == 1 ? "" : "s") (a taller terminal shows them)", .dim)]
        }
        return lines.map { $0.rendered(width: width, ansi: ansi) }
    }

    // MARK: - Logs and pipes

    /// One line per fact, keyed, for output that is not a terminal: the caller prints those whose
    /// text changed. The `eta` keys change with the others and are printed along with them.
    static func plainLines(_ snapshot: WatchSnapshot, overview: Bool, now: Date) -> [(key: String, text: String)] {
        var lines: [(key: String, text: String)] = []
        for list in snapshot.lists {
            let name = list.status.name
            lines.append(("\(list.status.id)", summary(list)))
            if !overview {
                for shot in list.shots {
                    lines.append(("\(list.status.id)/\(shot.key)", "\(name)/\(shot.key): \(asciiBar(shot.progress)) "
                                  + percent(shot.progress) + ", " + segments(shot, ansi: false).plain))
                }
                lines.append(("\(list.status.id)/credits", "\(name): credits " + credits(list)))
                lines.append(("\(list.status.id)/workers", "\(name): workers " + listWorkers(list, connected: snapshot.connectedWorkers.count)))
            }
            lines.append(("\(list.status.id)/eta", "\(name): " + eta(list, now: now)))
        }
        if overview {
            let live = snapshot.connectedWorkers
            lines.append(("workers", "workers: " + (live.isEmpty ? "none connected" : live.map {
                "\($0.name) \($0.state) \($0.runningJobs)/\($0.slots)"
            }.joined(separator: ", "))))
        }
        return lines
    }

    /// A list in one line, as `keyfarm watch` has always printed it.
    static func summary(_ list: WatchedList) -> String {
        let status = list.status, needs = attention(list)
        return "\(status.name): \(status.state), \(percent(status.progress)), \(status.jobsSucceeded)/\(status.jobsTotal) done, "
            + "\(status.jobsRunning) running" + (needs.isEmpty ? "" : ", " + needs)
            + ", \(status.spentCredits) credits spent"
    }

    // MARK: - Pieces

    static func isActive(_ state: String) -> Bool { ["queued", "running", "blocked"].contains(state) }

    static func percent(_ progress: Double) -> String { StatusCommand.percent(progress) }

    /// `[#####.....]`, for logs.
    static func asciiBar(_ progress: Double, width: Int = 20) -> String {
        let filled = Int((min(max(progress, 0), 1) * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    /// A bar of eighth blocks, coloured by state.
    static func bar(_ progress: Double, width: Int, state: String) -> StyledLine {
        let eighths = Int((min(max(progress, 0), 1) * Double(width * 8)).rounded(.down))
        let partials = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        var filled = String(repeating: "█", count: eighths / 8)
        if eighths / 8 < width { filled += partials[eighths % 8] }
        let style: StyledLine.Style = state == "failed" ? .red : state == "succeeded" ? .green : state == "cancelled" ? .dim : .cyan
        var line = StyledLine(filled, style)
        line.append(String(repeating: "░", count: width - filled.count), .dim)
        return line
    }

    static func stateWord(_ state: String) -> StyledLine {
        let style: StyledLine.Style? = switch state {
        case "succeeded": .green
        case "failed": .red
        case "running": .cyan
        case "blocked": .yellow
        case "cancelled", "replaced": .dim
        default: nil
        }
        return StyledLine(state, style)
    }

    /// `segments 3 done, 1 running, 2 queued · stitch waiting`.
    static func segments(_ shot: WatchedShot, ansi: Bool) -> StyledLine {
        var counts = shot.segments
        if let leased = counts.removeValue(forKey: "leased") { counts["running", default: 0] += leased }
        var line = StyledLine("segments ")
        var first = true
        for (state, word, style) in segmentStates {
            guard let count = counts.removeValue(forKey: state), count > 0 else { continue }
            if !first { line.append(", ") }
            line.append("\(count) \(word)", ansi ? style : nil)
            first = false
        }
        for (state, count) in counts.sorted(by: { $0.key < $1.key }) where count > 0 {
            line.append((first ? "" : ", ") + "\(count) \(state)")
            first = false
        }
        if first { line.append("none") }
        if let stitch = shot.stitch {
            line.append(" · stitch ")
            line.append(stitch == "succeeded" ? "done" : stitch == "retry_wait" ? "retrying" : stitch == "leased" ? "running" : stitch,
                        ansi ? (stitch == "succeeded" ? .green : stitch == "failed" ? .red : nil) : nil)
        }
        // A reviewer's verdict; pending is the rule and goes unsaid.
        if shot.review != "pending" {
            line.append(" · ")
            line.append(shot.review, ansi ? (shot.review == "approved" ? .green : .red) : nil)
        }
        return line
    }

    /// `ETA 3m20s`, `ETA ≥ 3m20s` (some work not measured yet), `ETA —` (nothing measured), or
    /// `done in 5m02s` once every job succeeded.
    static func eta(_ list: WatchedList, now: Date) -> String {
        switch list.status.state {
        case "succeeded": return "done in \(duration(list.status.updatedAt.timeIntervalSince(list.status.createdAt)))"
        case "failed", "cancelled", "replaced": return "ETA — (\(list.status.state))"
        default: break
        }
        let estimate = list.estimate
        guard let seconds = estimate.seconds else { return "ETA —" }
        return "ETA " + (estimate.isLowerBound ? "≥ " : "") + duration(seconds)
    }

    /// `412 spent of 900 estimated, 71 reserved · budget 1000, 517 left · project budget 5000, 3000 left`.
    static func credits(_ list: WatchedList) -> String {
        let status = list.status
        var text = "\(status.spentCredits) spent of \(status.estimatedCredits) estimated"
        if status.reservedCredits > 0 { text += ", \(status.reservedCredits) reserved" }
        if let budget = status.budgetCredits {
            text += " · budget \(budget), " + left(budget - status.spentCredits - status.reservedCredits)
        } else {
            text += " · no budget"
        }
        if let project = list.projectBudget {
            text += " · project budget \(project.credits), " + left(project.credits - project.spent - project.reserved)
        }
        return text
    }

    /// `412/900 credits (budget 1000)`: the overview's short form.
    static func creditsSummary(_ list: WatchedList) -> String {
        "\(list.status.spentCredits)/\(list.status.estimatedCredits) credits" + (list.status.budgetCredits.map { " (budget \($0))" } ?? "")
    }

    private static func left(_ credits: Int64) -> String { credits >= 0 ? "\(credits) left" : "over by \(-credits)" }

    /// The workers running a list's jobs: `render-01 (3), render-02 (1)`, or why none.
    static func listWorkers(_ list: WatchedList, connected: Int) -> String {
        guard !list.workers.isEmpty else {
            return "none running its jobs (\(connected) connected)"
        }
        return list.workers.map { "\($0.name) (\($0.jobs))" }.joined(separator: ", ")
            + " · \(connected) connected"
    }

    /// What in a list needs an operator's eye (retries, failures, budget blocks), or "".
    static func attention(_ list: WatchedList) -> String {
        var parts: [String] = []
        if list.retrying > 0 { parts.append("\(list.retrying) waiting to retry") }
        if list.status.jobsFailed > 0 { parts.append("\(list.status.jobsFailed) failed") }
        if list.status.jobsBlocked > 0 { parts.append("\(list.status.jobsBlocked) blocked by the budget") }
        return parts.joined(separator: ", ")
    }

    /// `45s`, `3m20s`, `2h05m`.
    static func duration(_ seconds: Double) -> String {
        let total = Int(max(seconds, 0).rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m" + two(total % 60) + "s" }
        return "\(total / 3600)h" + two(total / 60 % 60) + "m"
    }

    static func clock(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    private static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(width - text.count, 0))
        return right ? padding + text : text + padding
    }
}
