import Foundation
import KeyfarmCore

/// Which published API a generation was created through.
public enum FakeAPI: String, Sendable, CaseIterable {
    /// Luma's Dream Machine API (ray-2, ray-flash-2) under `/dream-machine/v1`.
    case luma
    /// fal.ai's queue API at the root.
    case fal
    /// Luma's Agents API (ray-3.2) under `/v1`.
    case lumaAgents = "luma_agents"
    /// WaveSpeed's API under `/api/v3`.
    case wavespeed

    /// A fresh id in the API's own format: a UUID, or 32 hex digits for WaveSpeed's predictions.
    func newID() -> String {
        let id = UUID().uuidString.lowercased()
        return self == .wavespeed ? id.replacingOccurrences(of: "-", with: "") : id
    }
}

/// One generation the fake accepted, in any API, with its life cycle and its clip.
struct FakeGeneration: Sendable {
    /// The states a generation passes through, in Luma's words (fal maps them to its own).
    enum State: String, Sendable, Comparable {
        case queued, dreaming, completed, failed

        private var rank: Int {
            switch self {
            case .queued: 0
            case .dreaming: 1
            case .completed, .failed: 2
            }
        }

        static func < (left: State, right: State) -> Bool { left.rank < right.rank }
    }

    var id: String
    var api: FakeAPI
    var model: String
    var createdAt: Date
    /// The request body as the client sent it (a JSON object), echoed back under `request`.
    var request: Data
    var spec: VideoSpec
    var state: State = .queued
    var failureReason: String?
    /// Why it failed, for the APIs that report a code beside the reason.
    var failureCause: RenderFailure.Cause?
    /// When it reached completed or failed.
    var finishedAt: Date?
    /// Set by a `fail_generation` or `end_as` fault: the generation ends so instead of completing.
    var forcedFailure: ForcedEnd?
    /// The terminal state a failed generation ended in, in WaveSpeed's words (`failed`,
    /// `cancelled`, `timeout`, `deleted`); nil is `failed`.
    var endedAs: String?
    /// fal's `error_type` of a failed generation; nil for a model error (moderation).
    var errorType: String?
    /// The render's outcome once ffmpeg finished; nil while it runs.
    var render: Result<RenderedVideo, RenderFailure>?
    var polls = 0
    var cancelled = false

    /// Moves the generation forward for one poll at `now`: never backwards, never to
    /// `completed` before its clip exists.
    mutating func advance(_ pacing: FakeProviderOptions.Pacing, now: Date) {
        guard state != .completed, state != .failed else { return }
        polls += 1
        var target: State
        switch pacing {
        case .perPoll:
            // fal's queue shows a request waiting (IN_QUEUE) before it runs.
            let queuedPolls = api == .fal ? 1 : 0
            target = polls >= 2 + queuedPolls ? .completed : polls > queuedPolls ? .dreaming : .queued
        case .after(let step):
            let elapsed = now.timeIntervalSince(createdAt)
            let seconds = step.inSeconds
            target = elapsed >= 2 * seconds ? .completed : elapsed >= seconds ? .dreaming : .queued
        }
        if target == .completed {
            if let forced = forcedFailure {
                fail(RenderFailure(reason: forced.reason, cause: .forced), now: now)
                endedAs = forced.state
                errorType = forced.falErrorType
                return
            }
            switch render {
            case nil: target = .dreaming
            case .failure(let failure)?:
                fail(failure, now: now)
                return
            case .success?: break
            }
        }
        if state < target {
            state = target
            if state == .completed { finishedAt = now }
        }
    }

    private mutating func fail(_ failure: RenderFailure, now: Date) {
        state = .failed
        failureReason = failure.reason
        errorType = failure.reason == FakeFault.moderationReason ? nil : "runner_server_error"
        failureCause = failure.cause
        finishedAt = now
    }

    var video: RenderedVideo? {
        if state == .completed, case .success(let video)? = render { return video }
        return nil
    }
}

/// How the fake behaves, set when it starts.
public struct FakeProviderOptions: Sendable {
    /// How fast generations advance from queued to completed.
    public enum Pacing: Sendable, Equatable {
        /// One state per poll: the first poll sees `dreaming`, the second `completed` (once the
        /// clip exists); fal's queue shows `IN_QUEUE` to the first poll, so one poll later.
        case perPoll
        /// `dreaming` after one step from creation, `completed` after two (once the clip exists).
        case after(Duration)
    }

    public var pacing: Pacing
    /// Where clips and fetched keyframes are written; nil makes a fresh temporary directory.
    public var directory: String?

    public init(pacing: Pacing = .perPoll, directory: String? = nil) {
        self.pacing = pacing
        self.directory = directory
    }
}
