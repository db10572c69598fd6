import Foundation
import KeyfarmCore
import KeyfarmStore
import Testing

/// A farm in the middle of a working day, made only through the store's own operations: the
/// CLI's (`operator`) and the coordinator's (`coordinator`), which may be two logins with
/// different roles. Every dashboard view has rows afterwards:
///
/// - `wide` (interpolate, 2 shots of 3 segments): two segments succeeded, one running at 50 %,
///   one waiting to retry after a transient error, one failed for good (its stitch with it),
///   one queued; the stitches wait.
/// - `chained` (luma/ray-2, budget 1000): its first part succeeded and was charged; the second
///   failed at the provider, was charged and refunded (Luma's policy), and waits to retry.
/// - `tight` (luma/ray-2, budget 50): its only segment (71 credits) is blocked by the budget.
/// - `dropped`: cancelled before anything ran.
/// - `finished` (interpolate, 1 shot): rendered and stitched into an MP4 and its manifest.
/// - the project `default` has a budget; `render-01` is busy, `render-02` lost.
struct FarmScenario {
    var renderOne: Int64 = 0
    var renderTwo: Int64 = 0

    static let tightList = """
    version: 1
    name: tight
    budget: 50
    defaults:
      engine: luma/ray-2
      resolution: 720p
    shots:
      - id: sh010
        duration: 4
        keyframes:
          - at: 0
            image: a.png
            prompt: a lighthouse at dusk
          - at: 4
            image: b.png
    """

    static func populate(operator op: FarmStore, coordinator: FarmStore) throws -> FarmScenario {
        var scenario = FarmScenario()
        // A leading coordinator, for v_coordinators.
        _ = try coordinator.tryLease(CoordinatorIdentity(instance: "scenario-leader", host: "coord-a", pid: 4242,
                                                         endpoint: "tcp://coord-a:5555", version: "0.1.0"), seconds: 3_600)
        let prices = try op.priceTable()
        func plan(_ yaml: String) throws -> Plan {
            Planner(prices: prices).plan(try ShotListDecoder(file: "test.yaml", directory: "/refs", inspector: AnyPNG()).decode(yaml))
        }
        _ = try op.submit(try plan(wideList(name: "wide", shots: 2, segments: 3)), sourcePath: "/wide.yaml", sourceText: "w", replace: false)
        _ = try op.submit(try plan(chainedList), sourcePath: "/chained.yaml", sourceText: "c", replace: false)
        _ = try op.submit(try plan(tightList), sourcePath: "/tight.yaml", sourceText: "t", replace: false)
        _ = try op.submit(try plan(wideList(name: "dropped", shots: 1, segments: 1)), sourcePath: "/dropped.yaml",
                          sourceText: "d", replace: false)
        _ = try op.cancel(name: "dropped", project: nil)
        try op.setBudget(project: "default", credits: 100_000)

        scenario.renderOne = try coordinator.connectWorker(name: "render-01", host: "render-01.example", version: "test",
                                                           engines: ["*"], slots: 4, instance: "a1").id
        scenario.renderTwo = try coordinator.connectWorker(name: "render-02", host: "render-02.example", version: "test",
                                                           engines: ["interpolate"], slots: 1, instance: "b2").id

        // Local work: two successes, one running, one transient failure waiting to retry.
        let local = try coordinator.claim(workerID: scenario.renderOne, capabilities: ["interpolate"], limit: 4, leaseSeconds: 60)
        try #require(local.count == 4)
        try coordinator.markRunning(local.map { (AttemptRef(jobID: $0.jobID, attempt: $0.attempt), 0) })
        for job in local.prefix(2) {
            _ = try coordinator.completeSuccess(jobID: job.jobID, attempt: job.attempt, artifactPath: "wide/\(job.key).png",
                                                artifactSHA256: "00", charge: nil)
        }
        try coordinator.recordProgress([(AttemptRef(jobID: local[2].jobID, attempt: local[2].attempt), 0.5)])
        _ = try coordinator.completeFailure(jobID: local[3].jobID, attempt: local[3].attempt, errorClass: .transient,
                                            error: "ffmpeg exited with status 1", retryAfter: 600)
        // One failure for good, on the other worker.
        let doomed = try #require(try coordinator.claim(workerID: scenario.renderTwo, capabilities: ["interpolate"], limit: 1,
                                                        leaseSeconds: 60).first)
        _ = try coordinator.completeFailure(jobID: doomed.jobID, attempt: doomed.attempt, errorClass: .invalid,
                                            error: "keyframe k2.png is not a PNG", retryAfter: nil)

        // Provider work: a charge, then a failed generation charged and refunded; `tight` is blocked.
        let first = try coordinator.claim(workerID: scenario.renderOne, capabilities: ["luma/*"], limit: 4, leaseSeconds: 60)
        let partOne = try #require(first.first { $0.shotList == "chained" })
        let partOneRef = AttemptRef(jobID: partOne.jobID, attempt: partOne.attempt)
        try coordinator.recordProviderRequest(partOneRef, provider: "luma", requestID: "gen-1")
        _ = try coordinator.completeSuccess(jobID: partOne.jobID, attempt: partOne.attempt, artifactPath: "chained/s0.mp4",
                                            artifactSHA256: "01", charge: Charge(provider: "luma", requestID: "gen-1", credits: 71))
        let partTwo = try #require(try coordinator.claim(workerID: scenario.renderOne, capabilities: ["luma/*"], limit: 1,
                                                         leaseSeconds: 60).first)
        try coordinator.recordProviderRequest(AttemptRef(jobID: partTwo.jobID, attempt: partTwo.attempt), provider: "luma",
                                              requestID: "gen-2")
        _ = try coordinator.completeFailure(jobID: partTwo.jobID, attempt: partTwo.attempt, errorClass: .providerFailed,
                                            error: "luma: generation failed (moderation)", retryAfter: 300,
                                            charge: Charge(provider: "luma", requestID: "gen-2", credits: 71))
        // A list rendered and stitched: its deliverables are what `v_outputs` shows.
        _ = try op.submit(try plan(wideList(name: "finished", shots: 1, segments: 1, priority: 100)), sourcePath: "/finished.yaml",
                          sourceText: "f", replace: false)
        let segment = try #require(try coordinator.claim(workerID: scenario.renderTwo, capabilities: ["interpolate"], limit: 1,
                                                         leaseSeconds: 60).first)
        try #require(segment.shotList == "finished")
        _ = try coordinator.completeSuccess(jobID: segment.jobID, attempt: segment.attempt, artifactPath: "finished/s0.png",
                                            artifactSHA256: "02", charge: nil)
        let stitch = try #require(try coordinator.claim(workerID: scenario.renderTwo, capabilities: ["stitch"], limit: 1,
                                                        leaseSeconds: 60).first)
        _ = try coordinator.completeSuccess(jobID: stitch.jobID, attempt: stitch.attempt, artifactPath: nil, artifactSHA256: nil,
                                            charge: nil, artifactsJSON: """
            [{"path": "default/finished/s0/s0.mp4", "sha256": "03", "bytes": 41000, "media_type": "video/mp4", "frames": 25},
             {"path": "default/finished/s0/manifest.json", "sha256": "04", "bytes": 9000, "media_type": "application/json", "frames": 25}]
            """)
        try coordinator.renewLeases(workerIDs: [scenario.renderOne], seconds: 60)
        try coordinator.setWorkerStates([(scenario.renderOne, "busy"), (scenario.renderTwo, "lost")])
        return scenario
    }
}
