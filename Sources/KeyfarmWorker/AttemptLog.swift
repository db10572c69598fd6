import Foundation
import KeyfarmCore
import Logging
import Synchronization

/// The last lines one attempt logged, kept on the worker while it runs and sent with its RESULT
/// (`keyfarm logs` shows them). A ring: at most `LogTail.maximumLines` lines and
/// `LogTail.maximumBytes` bytes; older lines are dropped and counted.
public final class AttemptLog: Sendable {
    /// Longer lines are cut, so that one huge message cannot push out everything before it.
    static let maximumLineBytes = 4096

    private struct State {
        var lines: [String] = []
        var bytes = 0
        var dropped = 0
    }

    private let state = Mutex(State())
    private let maximumLines: Int
    private let maximumBytes: Int

    public init(maximumLines: Int = LogTail.maximumLines, maximumBytes: Int = LogTail.maximumBytes) {
        self.maximumLines = max(maximumLines, 1)
        self.maximumBytes = max(maximumBytes, 1)
    }

    /// Adds one line (without its newline).
    public func append(_ line: String) {
        var line = line
        if line.utf8.count > Self.maximumLineBytes {
            line = String(decoding: line.utf8.prefix(Self.maximumLineBytes - 3), as: UTF8.self) + "..."
        }
        let size = line.utf8.count + 1
        state.withLock { state in
            state.lines.append(line)
            state.bytes += size
            while state.lines.count > maximumLines || (state.bytes > maximumBytes && state.lines.count > 1) {
                state.bytes -= state.lines.removeFirst().utf8.count + 1
                state.dropped += 1
            }
        }
    }

    /// The kept lines, oldest first, newline-separated; and how many earlier lines were dropped.
    public var tail: (text: String, droppedLines: Int) {
        state.withLock { state in
            let bounded = LogTail.bounded(state.lines.joined(separator: "\n"), maxBytes: maximumBytes)
            return (bounded.text, state.dropped + bounded.droppedLines)
        }
    }

    /// One log line as the tail shows it: UTC time of day, level, message, then metadata as
    /// `key=value` in key order (the job's own keys are left out: the tail is the job's already).
    static func format(_ event: LogEvent, metadata: Logger.Metadata, at date: Date = Date()) -> String {
        var line = timeOfDay(date) + " " + event.level.rawValue + " " + event.message.description
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for key in merged.keys.sorted() where !AttemptLogHandler.contextKeys.contains(key) {
            line += " \(key)=\(merged[key]!)"
        }
        if let error = event.error { line += " error=\(error)" }
        return line
    }

    /// `HH:MM:SS.mmm` in UTC.
    private static func timeOfDay(_ date: Date) -> String {
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        let ofDay = ((milliseconds % 86_400_000) + 86_400_000) % 86_400_000
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = ofDay % 1000
        return "\(two(ofDay / 3_600_000)):\(two(ofDay / 60_000 % 60)):\(two(ofDay / 1000 % 60))."
            + (millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)")
    }
}

/// A log handler for one attempt: every line goes into the attempt's `AttemptLog` and, at the
/// worker's own level, on to the worker's handler. It captures info and above even when the
/// worker logs less (the tail is for finding out why an attempt failed), and debug lines when
/// the worker logs those.
struct AttemptLogHandler: LogHandler {
    /// Metadata every line of an attempt shares, left out of its tail lines.
    static let contextKeys: Set<String> = ["job.id", "job.attempt", "job.key", "job.engine", "worker.name"]

    var upstream: any LogHandler
    let log: AttemptLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level

    init(upstream: any LogHandler, log: AttemptLog) {
        self.upstream = upstream
        self.log = log
        logLevel = min(upstream.logLevel, .info)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.append(AttemptLog.format(event, metadata: metadata))
        guard event.level >= upstream.logLevel else { return }
        var forwarded = event
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        forwarded.metadata = merged
        upstream.log(event: forwarded)
    }
}

extension Logger {
    /// A logger for one attempt: `base`'s handler and level, with the attempt's lines also kept in `log`.
    static func attempt(_ job: AssignedJob, base: Logger, log: AttemptLog) -> Logger {
        var logger = Logger(label: base.label) { _ in AttemptLogHandler(upstream: base.handler, log: log) }
        logger[metadataKey: "job.id"] = "\(job.ref.jobID)"
        logger[metadataKey: "job.attempt"] = "\(job.ref.attempt)"
        logger[metadataKey: "job.key"] = "\(job.key)"
        if !job.engine.isEmpty { logger[metadataKey: "job.engine"] = "\(job.engine)" }
        return logger
    }
}
