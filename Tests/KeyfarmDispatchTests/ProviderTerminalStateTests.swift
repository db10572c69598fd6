import Foundation
import KeyfarmTestSupport
import Testing

/// How the farm treats a generation the provider ended without a video, and one that never
/// ends: the first is created anew on the next attempt, the second resumed, never paid twice.
@Suite struct ProviderTerminalStateTests {
    @Test func aPredictionWaveSpeedCancelledIsCreatedAnew() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            let engine = "wavespeed/kwaivgi/kling-v2.5-turbo-pro/image-to-video"
            _ = try provider.keyfarm(["prices", "set", engine, "540p", "5", "25"])
            try provider.submit(ProviderFaultTests.singleSegmentShots(name: "cancelled", count: 1, engine: engine), name: "cancelled")
            try provider.postFaults(#"{"next": [{"end_as": "cancelled"}]}"#)
            try provider.startCoordinator()
            try provider.startWorker("render-1", slots: 1)
            let done = try eventually(timeout: .seconds(120)) { try provider.segmentStates("cancelled")["succeeded"] == 1 }
            #expect(done, "\(provider.logs)")
            // The cancelled prediction failed its attempt; the next one made a new prediction.
            #expect(try provider.creates().count == 2)
            let attempts = try provider.farm.store.connection.execute("""
                SELECT outcome, error_class, error, provider_request_id FROM keyfarm.v_attempts
                WHERE shot_list = 'cancelled' ORDER BY attempt
                """).rows
            #expect(attempts.count == 2)
            if attempts.count == 2 {
                #expect(try attempts[0].decode("error_class", as: String?.self) == "provider_failed")
                let error = try attempts[0].decode("error", as: String?.self) ?? ""
                #expect(error.contains("failed (cancelled)"), "\(error)")
                #expect(try attempts[1].decode("outcome", as: String?.self) == "succeeded")
                #expect(try attempts[0].decode("provider_request_id", as: String?.self)
                        != attempts[1].decode("provider_request_id", as: String?.self))
            }
            #expect(try provider.billed()["wavespeed"] == 1)
        }
    }

    @Test func aGenerationPastThePollDeadlineIsResumedNotPaidTwice() async throws {
        try await offPool {
            // Generations take 5 s; each attempt polls for at most 3 s.
            let provider = try ProviderFarm(stepMilliseconds: 2500)
            let engine = "fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video"
            // Room for several resumed attempts: on a loaded machine the fake's render may take
            // longer than two deadlines, and each attempt that runs out counts.
            let list = ProviderFaultTests.singleSegmentShots(name: "deadline", count: 1, engine: engine)
                .replacingOccurrences(of: "max_attempts: 3", with: "max_attempts: 10")
            try provider.submit(list, name: "deadline")
            try provider.startCoordinator()
            try provider.startWorker("render-1", slots: 1, extraArguments: ["--poll-deadline", "3s"])
            // Retries back off; under a loaded machine's slow renders this may take several. A
            // deadline is the provider's slowness, so it never blocklists the one worker.
            let done = try eventually(timeout: .seconds(240)) { try provider.segmentStates("deadline")["succeeded"] == 1 }
            #expect(done, "\(provider.logs)")
            #expect(try provider.creates().count == 1, "the generation was created again")
            let attempts = try provider.farm.store.connection.execute("""
                SELECT outcome, error_class, error, provider_request_id FROM keyfarm.v_attempts
                WHERE shot_list = 'deadline' ORDER BY attempt
                """).rows
            #expect(attempts.count >= 2)
            if let first = attempts.first, let last = attempts.last {
                #expect(try first.decode("error_class", as: String?.self) == "timeout")
                let error = try first.decode("error", as: String?.self) ?? ""
                #expect(error.contains("did not end within the poll deadline of 3s; the next attempt resumes it"), "\(error)")
                #expect(try last.decode("outcome", as: String?.self) == "succeeded")
                #expect(try first.decode("provider_request_id", as: String?.self) == last.decode("provider_request_id", as: String?.self))
            }
            #expect(try provider.billed()["fal"] == 1)
        }
    }
}
