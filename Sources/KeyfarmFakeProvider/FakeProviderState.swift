import Foundation
import KeyfarmCore
import Logging

/// One request the fake received, as `GET /_fake/requests` lists it. It says which
/// authorization header came and its scheme, never the credential itself.
struct RecordedRequest: Sendable {
    var method: String
    var path: String
    var time: Date
    /// The lower-cased name of the credential header that was present, if any.
    var authHeader: String?
    /// The scheme word of that header (`Bearer`, `Key`), never what follows it.
    var authScheme: String?
    var status: Int?
}

/// Everything the fake remembers: generations, the request log, the fault plan and the billing
/// counters. Rendering happens on threads of its own; they report back with `finishRender`.
actor FakeProviderState {
    let options: FakeProviderOptions
    let renderer: FakeVideoRenderer
    let logger: Logger
    private var generations: [String: FakeGeneration] = [:]
    /// Luma Agents' Files API: files by id, in the order they were created.
    var storedFiles: [String: FakeFile] = [:]
    var fileOrder: [String] = []
    private var requests: [RecordedRequest] = []
    private var plan = FaultPlan()
    private var random = SeededGenerator(seed: 1)
    private var injected: [String: Int] = [:]
    private var created: [FakeAPI: Int] = [:]
    private var billed: [FakeAPI: Int] = [:]
    /// Renders currently running, so `reset()` and tests can wait for quiet.
    private var rendering = 0

    init(options: FakeProviderOptions, renderer: FakeVideoRenderer, logger: Logger) {
        self.options = options
        self.renderer = renderer
        self.logger = logger
    }

    // MARK: Requests and faults

    /// Records a request and returns its index in the log, for `complete(_:status:)`.
    func record(_ request: RecordedRequest) -> Int {
        requests.append(request)
        return requests.count - 1
    }

    func complete(_ index: Int, status: Int) {
        if requests.indices.contains(index) { requests[index].status = status }
    }

    var recordedRequests: [RecordedRequest] { requests }

    func setFaults(_ new: FaultPlan) {
        plan = new
        random = SeededGenerator(seed: new.rates.seed)
        injected = [:]
    }

    var latencyMilliseconds: Int { plan.latencyMilliseconds }
    var outputURLLifetimeSeconds: Int { plan.outputURLLifetimeSeconds }

    /// The lifetime of the output URLs of an answer about a completed generation: already
    /// expired while the plan's `expired_output_urls` lasts.
    func outputURLLifetime(completed: Bool) -> Int {
        guard completed, plan.expiredOutputURLs > 0 else { return plan.outputURLLifetimeSeconds }
        plan.expiredOutputURLs -= 1
        return -60
    }
    /// Signs presigned-looking output URLs; new for every fake.
    let urlSecret = UUID().uuidString

    /// The fault for the next API request, removed from the plan. A `fail_generation` or an
    /// `end_as` waits at the head until a create request takes it.
    /// With no queued fault due, the plan's rates may draw one.
    func takeFault(isCreate: Bool) -> FakeFault? {
        if let fault = plan.next.first {
            switch fault {
            case .failGeneration, .endAs, .loseAnswer: if !isCreate { return drawFault(isCreate: false) }
            default: break
            }
            plan.next.removeFirst()
            return fault
        }
        return drawFault(isCreate: isCreate)
    }

    private func drawFault(isCreate: Bool) -> FakeFault? {
        let rates = plan.rates
        guard !rates.isEmpty else { return nil }
        let roll = Double.random(in: 0..<1, using: &random)
        if roll < rates.serverError {
            injected["5xx", default: 0] += 1
            return .status([500, 502, 503].randomElement(using: &random)!, retryAfter: nil)
        }
        if roll < rates.serverError + rates.tooManyRequests {
            injected["429", default: 0] += 1
            return .status(429, retryAfter: 1)
        }
        if isCreate, Double.random(in: 0..<1, using: &random) < rates.failedGeneration {
            injected["fail_generation", default: 0] += 1
            return .failGeneration("Generation failed (injected by the fake provider)")
        }
        return nil
    }

    /// How many faults the rates injected, by kind (`5xx`, `429`, `fail_generation`).
    var injectedFaults: [String: Int] { injected }

    // MARK: Generations

    /// Accepts a generation and starts rendering its clip on a thread of its own.
    func create(api: FakeAPI, model: String, request: Data, spec: VideoSpec, forcedFailure: ForcedEnd?) -> FakeGeneration {
        let id = api.newID()
        // The n-th generation moves between its keyframes with the n-th transition (in turn).
        var spec = spec
        spec.transition = VideoSpec.transitions[created.values.reduce(0, +) % VideoSpec.transitions.count]
        var generation = FakeGeneration(id: id, api: api, model: model, createdAt: Date(), request: request, spec: spec)
        generation.forcedFailure = forcedFailure
        generations[id] = generation
        created[api, default: 0] += 1
        logger.info("generation created", metadata: ["provider.request_id": "\(id)", "provider.api": "\(api.rawValue)",
                                                     "generation.model": "\(model)"])
        if forcedFailure == nil {
            rendering += 1
            let renderer = self.renderer
            Thread.detachNewThread { [self, spec] in
                let outcome = renderer.render(spec, id: id)
                Task { await self.finishRender(id, outcome) }
            }
        }
        return generation
    }

    func finishRender(_ id: String, _ outcome: Result<RenderedVideo, RenderFailure>) {
        rendering -= 1
        guard generations[id] != nil else {
            if case .success(let video) = outcome { unlink(video.path); if let archive = video.exrArchive { unlink(archive) } }
            return
        }
        generations[id]?.render = outcome
        if case .failure(let failure) = outcome {
            logger.notice("generation render failed", metadata: ["provider.request_id": "\(id)", "failure": "\(failure.reason)"])
        }
    }

    /// A poll: advances the generation per the pacing, bills it when it completes, and returns it.
    func poll(_ id: String, api: FakeAPI) -> FakeGeneration? {
        guard var generation = generations[id], generation.api == api else { return nil }
        let before = generation.state
        generation.advance(options.pacing, now: Date())
        if before != .completed, generation.state == .completed { billed[api, default: 0] += 1 }
        generations[id] = generation
        return generation
    }

    /// An API's generations as they stand, newest first (Dream Machine's list).
    func generations(api: FakeAPI) -> [FakeGeneration] {
        generations.values.filter { $0.api == api }.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
    }

    /// The generation as it stands, without advancing it.
    func generation(_ id: String, api: FakeAPI? = nil) -> FakeGeneration? {
        guard let generation = generations[id], api == nil || generation.api == api else { return nil }
        return generation
    }

    /// Removes a generation and its clip; false when there is none.
    func delete(_ id: String, api: FakeAPI) -> Bool {
        guard let generation = generations[id], generation.api == api else { return false }
        generations[id] = nil
        if let video = generation.video { unlink(video.path); if let archive = video.exrArchive { unlink(archive) } }
        return true
    }

    /// Cancels a generation still in the queue (fal's cancel); false when it already started.
    func cancel(_ id: String) -> Bool {
        guard var generation = generations[id], generation.state == .queued else { return false }
        generation.state = .failed
        generation.failureReason = "cancelled"
        generation.endedAs = "cancelled"
        generation.cancelled = true
        generation.finishedAt = Date()
        generations[id] = generation
        return true
    }

    /// The path of a completed generation's clip.
    func videoPath(_ id: String) -> String? { generations[id]?.video?.path }

    /// The zip of a completed HDR generation's EXR frames, when it was asked for the export.
    func exrArchivePath(_ id: String) -> String? { generations[id]?.video?.exrArchive }

    /// `{"luma": {"created": n, "billed": n}, "fal": ..., "luma_agents": ..., "wavespeed": ...}`: completed generations are billed, failed ones not.
    var billing: [String: [String: Int]] {
        var result: [String: [String: Int]] = [:]
        for api in FakeAPI.allCases {
            result[api.rawValue] = ["created": created[api, default: 0], "billed": billed[api, default: 0]]
        }
        return result
    }

    var rendersInFlight: Int { rendering }

    /// Forgets every generation, request, fault and count, and removes the clips.
    func reset() {
        for generation in generations.values {
            if let video = generation.video { unlink(video.path); if let archive = video.exrArchive { unlink(archive) } }
        }
        generations = [:]
        storedFiles = [:]
        fileOrder = []
        requests = []
        plan = FaultPlan()
        injected = [:]
        created = [:]
        billed = [:]
    }
}
