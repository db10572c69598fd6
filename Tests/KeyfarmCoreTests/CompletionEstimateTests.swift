import KeyfarmCore
import Testing

@Suite struct CompletionEstimateTests {
    func work(_ engine: String, unfinished: Int, remaining: Double, running: Int, measured: Int, mean: Double?) -> CompletionEstimate.EngineWork {
        CompletionEstimate.EngineWork(engine: engine, unfinishedJobs: unfinished, remainingJobs: remaining, runningJobs: running,
                                      measuredJobs: measured, meanSeconds: mean)
    }

    @Test func nothingMeasuredMeansNoEstimate() {
        let estimate = CompletionEstimate([work("luma/ray-2", unfinished: 4, remaining: 4, running: 2, measured: 0, mean: nil)])
        #expect(estimate.seconds == nil)
    }

    @Test func remainingWorkAtItsMeasuredPaceIsSharedByTheRunningJobs() {
        // 3.5 interpolations of 10 s and 1 stitch of 30 s on 2 running slots: (35 + 30) / 2.
        let estimate = CompletionEstimate([
            work("interpolate", unfinished: 4, remaining: 3.5, running: 2, measured: 6, mean: 10),
            work("stitch", unfinished: 1, remaining: 1, running: 0, measured: 1, mean: 30),
        ])
        #expect(estimate == CompletionEstimate(seconds: 32.5, isLowerBound: false))
    }

    @Test func unmeasuredEnginesMakeTheEstimateALowerBoundAndNothingRunningCountsAsOne() {
        let estimate = CompletionEstimate([
            work("interpolate", unfinished: 2, remaining: 2, running: 0, measured: 3, mean: 4),
            work("stitch", unfinished: 1, remaining: 1, running: 0, measured: 0, mean: nil),
        ])
        #expect(estimate == CompletionEstimate(seconds: 8, isLowerBound: true))
    }

    @Test func finishedWorkTakesNoTime() {
        let estimate = CompletionEstimate([work("smoke", unfinished: 0, remaining: 0, running: 0, measured: 12, mean: 0.1)])
        #expect(estimate == CompletionEstimate(seconds: 0, isLowerBound: false))
    }
}
