import Foundation
import KeyfarmCore
import KeyfarmTestSupport
import KeyfarmWire
@testable import KeyfarmWorker
import Synchronization
import Testing

/// The smoke engine's hooks for the coordinator's timeout tests, and the progress an engine
/// sends so that a healthy attempt never looks stalled.
@Suite struct SmokeEngineTests {
    final class Reports: Sendable {
        let fractions = Mutex<[Float]>([])
        var all: [Float] { fractions.withLock { $0 } }
    }

    func job(attempt: Int, spec: String) -> AssignedJob {
        AssignedJob(ref: AttemptRef(jobID: 7, attempt: attempt), key: "smoke/1", kind: "smoke", engine: "", spec: spec,
                    shotList: "smoke", project: "test", resumeProviderRequestID: nil, storage: "/tmp")
    }

    func context(_ job: AssignedJob, _ control: JobControl, _ reports: Reports) -> JobContext {
        JobContext(job: job, control: control) { message in
            if case .progress(let body) = message { reports.fractions.withLock { $0.append(body.fraction) } }
        }
    }

    static let stallsFirst = #"{"kind": "smoke", "ms": 300, "fail_rate": 0, "by_attempt": {"1": {"ms": 60000, "progress": false}}}"#

    @Test func aStallingAttemptSendsNothingAndStopsWhenCancelled() async throws {
        try await offPool {
            let reports = Reports()
            let control = JobControl()
            let job = job(attempt: 1, spec: Self.stallsFirst)
            let started = ContinuousClock.now
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 0.5)
                control.cancel()
            }
            let outcome = SmokeEngine().run(job, context: context(job, control, reports))
            guard case .cancelled = outcome else { Issue.record("not cancelled: \(outcome)"); return }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(reports.all.isEmpty, "a stalling attempt reported \(reports.all)")
        }
    }

    @Test func theNextAttemptRunsWithTheJobsOwnSpec() async throws {
        try await offPool {
            let reports = Reports()
            let job = job(attempt: 2, spec: Self.stallsFirst)
            let outcome = SmokeEngine().run(job, context: context(job, JobControl(), reports))
            guard case .succeeded = outcome else { Issue.record("did not succeed: \(outcome)"); return }
            #expect(reports.all.count >= 2, "progress: \(reports.all)")
        }
    }

    @Test func keepAliveRepeatsTheLastProgressOnlyAfterItsInterval() async throws {
        try await offPool {
            let reports = Reports()
            let job = job(attempt: 1, spec: "{}")
            let context = context(job, JobControl(), reports)
            context.progress(0.4, message: "luma dreaming", force: true)
            context.keepAlive(every: .seconds(10))
            #expect(reports.all == [0.4])
            Thread.sleep(forTimeInterval: 0.2)
            context.keepAlive(every: .milliseconds(100))
            #expect(reports.all == [0.4, 0.4])
        }
    }
}
