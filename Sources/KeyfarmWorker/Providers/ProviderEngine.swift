import Foundation
import KeyfarmCore
import KeyfarmMedia
import KeyfarmProcess
import KeyfarmProviders
import KeyfarmWire
import Logging

/// Renders a segment through a provider's API: builds the request from the job's spec,
/// submits it, has the coordinator store the request id before polling (so a retry resumes
/// instead of paying twice), polls with back-off, downloads the video into the farm's
/// storage, extracts its last frame for continuity, and reports the artifacts.
///
/// A job that arrives with `resumeProviderRequestID` first asks the provider about that
/// request and creates a new generation only when the provider says it failed or does not exist.
public struct ProviderEngine: JobEngine {
    public struct Settings: Sendable {
        public var endpoints: ProviderEndpoints
        public var secrets: ProviderSecrets
        /// Signs URLs for local keyframes when an API fetches images by URL; nil without `--serve-artifacts`.
        public var signer: URLSigner?
        /// The first wait between polls; it doubles up to `maximumPoll`.
        public var firstPoll: Duration = .seconds(2)
        public var maximumPoll: Duration = .seconds(20)
        /// How many failed polls in a row (5xx, timeouts) the attempt rides out before it gives up.
        public var pollErrorsTolerated = 6
        /// How long an attempt keeps retrying a create the provider answers with 429.
        public var rateLimitPatience: Duration = .seconds(600)
        /// How long one attempt polls a generation that neither completes nor fails. Past it the
        /// attempt fails as transient with the request id kept, and the next attempt resumes
        /// the same generation (nothing is paid twice). Generous: providers queue for a while.
        public var pollDeadline: Duration = .seconds(7200)
        public var httpLimits = HTTPClient.Limits(connectTimeout: .seconds(10), totalTimeout: .seconds(60))
        /// Video downloads may take longer than an API call.
        public var downloadLimits = HTTPClient.Limits(connectTimeout: .seconds(10), totalTimeout: .seconds(900))
        public var ffmpeg = "ffmpeg"

        public init(endpoints: ProviderEndpoints, secrets: ProviderSecrets, signer: URLSigner? = nil) {
            self.endpoints = endpoints
            self.secrets = secrets
            self.signer = signer
        }
    }

    /// Sent when a segment and its start keyframe have no prompt: every provider needs one.
    public static let defaultPrompt = "smooth, continuous motion from the first frame to the last, camera holds"

    let settings: Settings

    /// The engine logs through each attempt's `JobContext.logger`: the worker's log and the
    /// attempt's log tail.
    public init(settings: Settings) {
        self.settings = settings
    }

    public func run(_ job: AssignedJob, context: JobContext) -> JobOutcome {
        let spec: SegmentSpec
        do {
            spec = try SegmentSpec(json: job.spec)
        } catch {
            return .failed(.invalid, error.description)
        }
        var run = ProviderRun(job: job, spec: spec, settings: settings, context: context)
        return run.render()
    }
}

/// One attempt's state while it renders through a provider.
struct ProviderRun {
    let job: AssignedJob
    let settings: ProviderEngine.Settings
    var logger: Logger
    let context: JobContext
    let spec: SegmentSpec
    var requestID: String?
    var credits: Int64 = 0
    var providerName = ""
    /// The provider's file ids of keyframe images, by content hash: those the farm recorded
    /// (the spec's `provider_files`), and those this attempt uploads.
    let files = ProviderFileBook()
    /// Continue earlier generations by their last frame as an image rather than by generation id
    /// (the provider refused an id it no longer keeps).
    var continueByImage = false

    init(job: AssignedJob, spec: SegmentSpec, settings: ProviderEngine.Settings, context: JobContext) {
        self.job = job
        self.spec = spec
        self.settings = settings
        self.logger = context.logger
        self.context = context
        files.ids = spec.providerFiles
    }

    /// A failure with what this attempt knows about its provider request.
    func failed(_ verdict: ProviderErrorClassifier.Verdict) -> JobOutcome {
        let retryAfter = verdict.retryAfter.map(\.inSeconds)
        return .failed(verdict.errorClass, verdict.message, retryAfter: retryAfter, provider: providerName,
                       providerRequestID: requestID ?? "")
    }

    mutating func render() -> JobOutcome {
        guard let engine = Engine(name: job.engine), let provider = engine.provider else {
            return .failed(.invalid, "\(job.engine.debugDescription) is not a provider engine")
        }
        providerName = provider
        credits = Int64(spec.estimatedCredits)
        let api: any VideoAPI
        let client: HTTPClient
        do {
            client = try HTTPClient(limits: settings.httpLimits, logger: logger)
            api = try VideoAPIs.make(for: engine, endpoints: settings.endpoints, secrets: settings.secrets, client: client)
        } catch let verdict as ProviderErrorClassifier.Verdict {
            return failed(verdict)
        } catch {
            return .failed(.transient, "\(provider): cannot start an HTTP client: \(error)")
        }

        // 1. Resume what an earlier attempt submitted. Never submit anew in the same attempt
        //    (proto/PROTOCOL.md): if the provider lost or failed the request, this attempt fails
        //    with its id, and the next one, offered no id to resume, creates a new generation.
        if let resume = job.resumeProviderRequestID, !resume.isEmpty {
            requestID = resume
            logger.info("resuming the provider request of an earlier attempt", metadata: ["provider.request_id": "\(resume)"])
        }

        // 2. Submit, and wait until the coordinator has stored the id.
        if requestID == nil {
            var request: VideoRequest
            switch self.request(engine: engine, api: api) {
            case .success(let built): request = built
            case .failure(let refused): return refused.outcome
            }
            // When this attempt began asking: a create whose answer was lost is looked for among
            // the generations made since (a minute earlier, for the provider's clock).
            let asking = Date().addingTimeInterval(-60)
            var reconciled = 0
            var uploadedAgain = false
            // A 429 on create is ridden out here, as Retry-After asks, for up to `rateLimitPatience`:
            // the provider refused the request, so nothing was created and nothing can be paid twice.
            // Other refusals that created nothing (fal's 409) are repeated as the API's SDK does.
            let patience = ContinuousClock.now + settings.rateLimitPatience
            var submitted: String?
            var refused = 0
            while submitted == nil {
                if context.isCancelled { return .cancelled }
                do {
                    submitted = try api.submit(request)
                } catch where !uploadedAgain && !files.ids.isEmpty && (type(of: api) as? any FileUploading.Type)?.blamesFile(error) == true {
                    // A file the farm knew is gone at the provider: nothing was created, so the
                    // images go up again and the same request is made with their new ids.
                    uploadedAgain = true
                    logger.notice("the provider no longer has a keyframe file; uploading the images again", metadata: ["error": "\(error.message)"])
                    files.ids = [:]
                    switch self.request(engine: engine, api: api) {
                    case .success(let built): request = built
                    case .failure(let refused): return refused.outcome
                    }
                } catch where !continueByImage && error.errorClass == .invalid && request.continuesAGeneration {
                    // Refused, so nothing was created: the provider may no longer keep the
                    // generation this one continues (it keeps them for a while, not for ever).
                    // The farm has that generation's last frame: the same request with it as an image.
                    continueByImage = true
                    logger.notice("the provider refused a continuation by generation id; asking again with the last frame as an image",
                                  metadata: ["error": "\(error.message)"])
                    switch self.request(engine: engine, api: api) {
                    case .success(let built): request = built
                    case .failure(let refused): return refused.outcome
                    }
                } catch where error.answerLost {
                    // The create went out and its answer did not come back: the provider may have
                    // made (and bill) the generation. Never create again blind.
                    guard let listing = api as? any GenerationListing else {
                        logger.warning("a create's answer was lost and the API cannot list generations; the credits it may have cost are booked as ambiguous", metadata: ["error": "\(error.message)"])
                        return .createAmbiguous("\(provider): a create was sent and its answer lost (\(error.message)); the provider may have made and will bill a generation this attempt cannot find", provider: provider)
                    }
                    reconciled += 1
                    do {
                        if let found = try listing.findGeneration(for: request, since: asking) {
                            logger.notice("a create's answer was lost; adopting the generation it made", metadata: ["provider.request_id": "\(found)"])
                            submitted = found
                            continue
                        }
                    } catch let listError {
                        guard reconciled < 3 else { return failed(listError) }
                        logger.notice("cannot list generations to look for a lost create yet", metadata: ["error": "\(listError.message)"])
                        _ = sleep(.seconds(1))
                        continue
                    }
                    // Listed, and not there: the provider made nothing; asking again is safe.
                    logger.notice("a create's answer was lost and the provider lists no generation it made; creating again", metadata: ["error": "\(error.message)"])
                    guard reconciled < 3 else { return failed(error) }
                } catch {
                    refused += 1
                    let wait: Duration
                    if error.errorClass == .rateLimited && ContinuousClock.now < patience {
                        wait = max(error.retryAfter ?? .seconds(1), .milliseconds(100))
                        context.progress(0, message: "\(provider) rate limited, waiting", force: true)
                    } else if let delay = api.createRetryDelay(after: error, attempt: refused) {
                        wait = delay
                        context.progress(0, message: "\(provider) refused the create (HTTP \(error.status ?? 0)), repeating", force: true)
                    } else {
                        return failed(error)
                    }
                    logger.notice("create refused; waiting to repeat it", metadata: [
                        "http.status": "\(error.status ?? 0)", "refusals": "\(refused)",
                        "wait_ms": "\(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)"])
                    if !sleep(min(wait, .seconds(300))) && context.control.shouldHandBack { return .handedBack(providerRequestID: "") }
                }
            }
            let id = submitted!
            requestID = id
            logger.info("provider request submitted", metadata: ["provider.request_id": "\(id)"])
            guard context.submitted(provider: provider, requestID: id) else {
                if context.isCancelled { return .cancelled }
                return .failed(.transient, "\(provider): request \(id) submitted, but the coordinator did not confirm storing it",
                               provider: provider, providerRequestID: id)
            }
        }
        let id = requestID!

        // 3. Poll until the generation ends.
        var wait = settings.firstPoll
        var errors = 0
        let started = ContinuousClock.now
        let deadline = started + settings.pollDeadline
        while true {
            if context.isCancelled { return .cancelled }
            if context.control.shouldHandBack { return .handedBack(providerRequestID: id) }
            if ContinuousClock.now >= deadline {
                // Not the provider's verdict: the generation may still finish. Transient keeps
                // the id for the next attempt, which resumes it instead of paying again.
                logger.warning("the generation did not end within the poll deadline; the next attempt resumes it",
                               metadata: ["provider.request_id": "\(id)"])
                return .failed(.timeout, "\(provider): request \(id) did not end within the poll deadline of \(DurationText.format(Double(settings.pollDeadline.components.seconds))); the next attempt resumes it",
                               provider: provider, providerRequestID: id)
            }
            switch poll(api, id) {
            case .outcome(let outcome):
                return outcome
            case .status(nil):
                return .failed(.providerFailed, "\(provider): request \(id) no longer exists", provider: provider,
                               providerRequestID: id)
            case .status(.pending(let state)?):
                errors = 0
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds)
                context.progress(0.05 + 0.8 * seconds / (seconds + 60), message: "\(provider) \(state)")
            case .status(.failed(let code, let reason, let terminal)?):
                let codeText = code.map { " (\($0))" } ?? ""
                return .failed(terminal ? .invalid : .providerFailed,
                               "\(provider) generation \(id) failed\(codeText): \(reason)",
                               credits: credits, provider: provider, providerRequestID: id, providerFailureCode: code ?? "")
            case .status(.completed(let url, let exrURL)?):
                context.progress(0.85, message: "downloading", force: true)
                return finish(api: api, id: id, videoURL: url, exrURL: exrURL)
            case .pollFailed(let verdict):
                errors += 1
                if verdict.errorClass == .invalid || errors > settings.pollErrorsTolerated { return failed(verdict) }
                logger.notice("poll failed; trying again", metadata: ["error": "\(verdict.message)", "failures": "\(errors)"])
                // Every poll reports, so that only a worker that stops polling looks stalled.
                context.keepAlive(every: .zero)
                if let retryAfter = verdict.retryAfter, retryAfter > wait { wait = min(retryAfter, .seconds(300)) }
            }
            guard sleep(min(wait, max(deadline - ContinuousClock.now, .zero))) else { continue }
            wait = min(wait * 2, settings.maximumPoll)
        }
    }

    /// The request to submit, or the attempt's failure when it cannot be built.
    func request(engine: Engine, api: any VideoAPI) -> Result<VideoRequest, AttemptFailure> {
        do {
            var request = try buildRequest(engine: engine, api: api)
            // An opaque tag naming the job, where the API takes one (Luma Agents' user_id).
            request.tag = "keyfarm-job-\(job.ref.jobID)"
            return .success(request)
        } catch let verdict as ProviderErrorClassifier.Verdict {
            return .failure(AttemptFailure(outcome: failed(verdict)))
        } catch {
            return .failure(AttemptFailure(outcome: .failed(.invalid, "\(error)")))
        }
    }

    enum Poll {
        case status(GenerationStatus?)
        case pollFailed(ProviderErrorClassifier.Verdict)
        case outcome(JobOutcome)
    }

    func poll(_ api: any VideoAPI, _ id: String) -> Poll {
        do {
            return .status(try api.status(of: id))
        } catch {
            return .pollFailed(error)
        }
    }

    /// Sleeps up to `duration` in short steps, reporting progress every 10 s so a long back-off
    /// does not look stalled; false when cancellation or a hand-back cut it short.
    func sleep(_ duration: Duration) -> Bool {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {
            if context.isCancelled || context.control.shouldHandBack { return false }
            context.keepAlive()
            Thread.sleep(forTimeInterval: 0.02)
        }
        return true
    }

    // MARK: The result

    /// Downloads the video, extracts its last frame, writes the generation record, and succeeds.
    func finish(api: any VideoAPI, id: String, videoURL: String, exrURL: String?) -> JobOutcome {
        let relative = SegmentStorage.directory(for: job, shot: spec.shot)
        let directory = job.storage + "/" + relative
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return .failed(.transient, "cannot create \(directory): \(error)", provider: providerName, providerRequestID: id)
        }
        let video: DownloadedFile
        switch download(api: api, id: id, url: videoURL, to: directory + "/video.mp4", what: "video", pick: { $0.video }) {
        case .success(let file): video = file
        case .failure(let outcome): return outcome.outcome
        }
        // An HDR generation's EXR export: the frames the stitch keeps as the segment's truth.
        var export: EXRExport.Unpacked?
        if spec.exrExport {
            guard let exrURL else {
                return .failed(.providerFailed, "\(providerName): generation \(id) completed without the EXR export it was asked for",
                               provider: providerName, providerRequestID: id)
            }
            context.progress(0.9, message: "downloading the EXR export", force: true)
            let archive: DownloadedFile
            switch download(api: api, id: id, url: exrURL, to: directory + "/exr_export.download", what: "EXR export",
                            pick: { $0.exr }) {
            case .success(let file): archive = file
            case .failure(let outcome): return outcome.outcome
            }
            defer { unlink(archive.path) }
            do {
                export = try EXRExport.unpack(archive.path, into: directory + "/exr", relativeTo: job.storage)
            } catch let error as EXRExport.Refused {
                return .failed(.invalid, "\(providerName): the EXR export of \(id) is not usable: \(error.description)",
                               provider: providerName, providerRequestID: id)
            } catch {
                return .failed(.transient, "\(providerName): cannot unpack the EXR export of \(id): \(error)",
                               provider: providerName, providerRequestID: id)
            }
        }
        return finish(api: api, id: id, video: video, export: export, relative: relative, directory: directory)
    }

    /// An attempt's failure (a download, a request that cannot be built), as an `Error` for `Result`.
    struct AttemptFailure: Error { var outcome: JobOutcome }

    /// Downloads one output of a completed generation. Output URLs are presigned and expire
    /// (Luma's after an hour): a refused URL is replaced by the one the generation, read again,
    /// names now, once, before the download is judged.
    func download(api: any VideoAPI, id: String, url first: String, to path: String, what: String,
                  pick: ((video: String, exr: String?)) -> String?) -> Result<DownloadedFile, AttemptFailure> {
        var url = first
        for round in 1...2 {
            do {
                let client = try HTTPClient(limits: settings.downloadLimits, logger: logger)
                // Reports while bytes arrive: a download that stops arriving is what a stall is.
                return .success(try client.download(url, to: path, received: { _ in context.keepAlive(every: .seconds(1)) }))
            } catch {
                let verdict = ProviderErrorClassifier.classify(error, provider: providerName)
                if round == 1, let status = verdict.status, [400, 401, 403, 404, 410].contains(status),
                   case .status(.completed(let video, let exr)?) = poll(api, id), let fresh = pick((video, exr)) {
                    logger.notice("the output URL was refused; downloading from the URL the generation names now",
                                  metadata: ["http.status": "\(status)", "output": "\(what)"])
                    url = fresh
                    continue
                }
                return .failure(AttemptFailure(outcome: downloadFailed(verdict, id: id, what: what)))
            }
        }
        return .failure(AttemptFailure(outcome: .failed(.transient, "\(providerName): the \(what) of \(id) was not downloaded",
                                                         provider: providerName, providerRequestID: id)))
    }

    /// A download that failed: the generation is done and paid for, so the failure is never
    /// terminal; the next attempt resumes it and downloads again.
    func downloadFailed(_ verdict: ProviderErrorClassifier.Verdict, id: String, what: String = "video") -> JobOutcome {
        do {
            return .failed(verdict.errorClass == .invalid ? .transient : verdict.errorClass,
                           "\(providerName): downloading the \(what) of \(id) failed: \(verdict.message)",
                           provider: providerName, providerRequestID: id)
        }
    }

    /// Extracts the segment's last frame, writes the generation record, and succeeds.
    func finish(api: any VideoAPI, id: String, video: DownloadedFile, export: EXRExport.Unpacked?, relative: String,
                directory: String) -> JobOutcome {
        if context.isCancelled { return .cancelled }
        // A multi-keyframe segment ends at its last keyframe's grid position, which may come
        // before the end of the billed clip.
        let endPosition = spec.endPosition
        let seconds = spec.durationBucket ?? 0
        context.progress(0.95, message: "extracting the last frame", force: true)
        let lastFrame: SegmentStorage.Written
        do {
            lastFrame = try SegmentStorage.extractLastFrame(ffmpeg: settings.ffmpeg, video: video.path, through: endPosition,
                                                            to: directory + "/last_frame.png")
        } catch {
            // Transient: the next attempt resumes this (paid) generation and downloads it again.
            return .failed(.transient, "\(providerName): cannot extract the last frame of \(id)'s video: \(error)",
                           provider: providerName, providerRequestID: id)
        }
        var record = GenerationRecord(provider: providerName, api: api.api, engine: job.engine, requestID: id,
                                      videoSHA256: video.sha256)
        if let endPosition, endPosition < seconds * 24 { record.trimmed = true }
        let recordFile: SegmentStorage.Written
        do {
            recordFile = try SegmentStorage.writeAtomically(record.json(), to: directory + "/generation.json")
        } catch {
            return .failed(.transient, "cannot write \(directory)/generation.json: \(error)", provider: providerName,
                           providerRequestID: id)
        }
        var artifacts: [ArtifactBody] = []
        for (path, sha256, bytes, type) in [
            (relative + "/video.mp4", video.sha256, video.bytes, "video/mp4"),
            (relative + "/last_frame.png", lastFrame.sha256, lastFrame.bytes, "image/png"),
            (relative + "/generation.json", recordFile.sha256, recordFile.bytes, GenerationRecord.mediaType),
        ] {
            var artifact = ArtifactBody()
            artifact.path = path
            artifact.sha256 = sha256
            artifact.bytes = bytes
            artifact.mediaType = type
            artifacts.append(artifact)
        }
        if let export {
            var artifact = ArtifactBody()
            artifact.path = export.listing
            artifact.sha256 = export.sha256
            artifact.bytes = export.bytes
            artifact.mediaType = EXRExport.mediaType
            artifact.frames = UInt32(export.frames.count)
            artifacts.append(artifact)
        }
        logger.info("segment rendered", metadata: ["provider.request_id": "\(id)", "file.path": "\(video.path)",
                                                   "file.bytes": "\(video.bytes)"])
        context.progress(1, force: true)
        return .succeeded(artifacts: artifacts, credits: credits, provider: providerName, providerRequestID: id)
    }
}

/// The provider's file ids of keyframe images an attempt may name, by content hash.
final class ProviderFileBook {
    var ids: [String: String] = [:]
}
