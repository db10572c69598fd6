import Foundation
import KeyfarmCore
import Logging
import Synchronization
@testable import KeyfarmWorker
import Testing

/// The per-attempt log tail a worker sends with each RESULT.
@Suite struct AttemptLogTests {
    /// A log handler that keeps what reaches it, standing in for the worker's own.
    final class Lines: Sendable {
        let value = Mutex<[String]>([])
        var all: [String] { value.withLock { $0 } }
    }

    struct Recorder: LogHandler {
        let lines = Lines()
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level

        init(level: Logger.Level) { logLevel = level }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            lines.value.withLock { $0.append("\(event.level) \(event.message) " + merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")) }
        }
    }

    final class Box: Sendable {
        let recorder: Recorder
        init(level: Logger.Level) { recorder = Recorder(level: level) }
    }

    func job(attempt: Int = 1, spec: String = "{}") -> AssignedJob {
        AssignedJob(ref: AttemptRef(jobID: 7, attempt: attempt), key: "sh010/s1", kind: "smoke", engine: "", spec: spec,
                    shotList: "demo", project: "p", resumeProviderRequestID: nil, storage: "/tmp")
    }

    @Test func theRingKeepsTheLastLinesWithinItsBoundsAndCountsTheRest() {
        let log = AttemptLog(maximumLines: 5, maximumBytes: 1000)
        for n in 1...12 { log.append("line \(n)") }
        #expect(log.tail.text == (8...12).map { "line \($0)" }.joined(separator: "\n"))
        #expect(log.tail.droppedLines == 7)

        let small = AttemptLog(maximumLines: 100, maximumBytes: 64)
        for n in 1...20 { small.append("a line of twenty \(n < 10 ? "0" : "")\(n)") }
        #expect(small.tail.text.utf8.count <= 64)
        #expect(small.tail.text.hasSuffix("a line of twenty 20"))
        #expect(small.tail.droppedLines + small.tail.text.split(separator: "\n").count == 20)

        let long = AttemptLog()
        long.append(String(repeating: "y", count: 10_000))
        #expect(long.tail.text.utf8.count == AttemptLog.maximumLineBytes)
        #expect(long.tail.text.hasSuffix("..."))
    }

    @Test func anAttemptLogsIntoItsTailAndAtTheWorkersLevelIntoTheWorkersLog() {
        let box = Box(level: .warning)
        var base = Logger(label: "keyfarm") { _ in box.recorder }
        base[metadataKey: "worker.name"] = "w1"
        let context = JobContext(job: job(), control: JobControl(), logger: base) { _ in }
        context.logger.debug("not kept: the worker logs info at most here")
        context.logger.info("provider request submitted", metadata: ["provider.request_id": "gen-1"])
        context.logger.warning("poll failed; trying again", metadata: ["failures": "1"])
        let tail = context.log.tail.text.split(separator: "\n").map { String($0.dropFirst(13)) }
        #expect(tail == ["info provider request submitted provider.request_id=gen-1",
                         "warning poll failed; trying again failures=1"])
        // The worker's own log has only what its level lets through, with the job's and its own metadata.
        #expect(box.recorder.lines.all == [
            "warning poll failed; trying again failures=1 job.attempt=1 job.id=7 job.key=sh010/s1 worker.name=w1"])

        let verbose = Box(level: .debug)
        let debugContext = JobContext(job: job(), control: JobControl(), logger: Logger(label: "keyfarm") { _ in verbose.recorder }) { _ in }
        debugContext.logger.debug("kept when the worker logs debug")
        #expect(debugContext.log.tail.text.hasSuffix("debug kept when the worker logs debug"))
    }

    @Test func aSmokeJobFailsItsFirstAttemptsOnPurposeAndSaysSoInItsLog() {
        let first = JobContext(job: job(attempt: 1, spec: #"{"ms": 0, "fail_attempts": 1}"#), control: JobControl()) { _ in }
        guard case .failed(.transient, let message, _, _, _, _, _) = SmokeEngine().run(job(attempt: 1, spec: #"{"ms": 0, "fail_attempts": 1}"#),
                                                                                       context: first) else {
            Issue.record("the first attempt should fail")
            return
        }
        #expect(message == "smoke job failed on purpose (attempt 1 of the first 1)")
        #expect(first.log.tail.text.contains("warning failing on purpose fail_attempts=1"))
        let second = JobContext(job: job(attempt: 2), control: JobControl()) { _ in }
        guard case .succeeded = SmokeEngine().run(job(attempt: 2, spec: #"{"ms": 0, "fail_attempts": 1}"#), context: second) else {
            Issue.record("the second attempt should succeed")
            return
        }
    }
}
