import Foundation
import KeyfarmCore

/// What a segment asks a provider for, in the farm's terms; each adapter turns it into its
/// API's body.
public struct VideoRequest: Sendable, Equatable {
    /// The provider's model id: `ray-2`, `ray-3.2`, `fal-ai/kling-video/...`, `kwaivgi/...`.
    public var model: String
    public var prompt: String
    public var start: FrameInput?
    public var end: FrameInput?
    /// `540p`, `720p` or `1080p`.
    public var resolution: String
    /// `16:9`, `9:16`, `1:1`, `4:3`, `3:4`, `21:9` or `9:21`.
    public var aspect: String
    /// The clip length asked for: one of the engine's duration buckets, in seconds.
    public var seconds: Int
    /// For an API that takes many keyframes (Luma Agents): every keyframe with its position on
    /// the clip's 24 fps grid. When set, `start` and `end` are not sent.
    public var anchors: [AnchoredFrame]
    /// Native HDR, and an EXR export beside the video (which needs HDR).
    public var hdr: Bool
    public var exrExport: Bool
    /// A reframe of a finished generation of the same API to `aspect` (Luma Agents'
    /// `video_reframe`), and where the source sits in the new frame ([x, y, w, h] normalized;
    /// nil: the API's centred fit).
    public var reframeSource: String? = nil
    public var reframePosition: [Double]? = nil
    /// fal and WaveSpeed: how the model names its inputs, as the job's spec carries them; nil
    /// looks the model up in `ModelInputTable.builtIn`.
    public var inputs: ModelInputs?
    /// An opaque tag naming the farm's job (`keyfarm-job-<id>`), sent where the API has a field
    /// for one (Luma Agents' `user_id`).
    public var tag: String? = nil

    public init(model: String, prompt: String, start: FrameInput? = nil, end: FrameInput? = nil,
                resolution: String, aspect: String, seconds: Int, anchors: [AnchoredFrame] = [],
                hdr: Bool = false, exrExport: Bool = false, inputs: ModelInputs? = nil) {
        self.model = model
        self.prompt = prompt
        self.start = start
        self.end = end
        self.resolution = resolution
        self.aspect = aspect
        self.seconds = seconds
        self.anchors = anchors
        self.hdr = hdr
        self.exrExport = exrExport
        self.inputs = inputs
    }

    /// Whether a frame of the request continues an earlier generation by its id.
    public var continuesAGeneration: Bool {
        ([start, end] + anchors.map(\.input)).contains { if case .generation? = $0 { true } else { false } }
    }
}

/// A keyframe pinned at a position of a multi-keyframe generation (`keyframe_indexes[i]`).
public struct AnchoredFrame: Sendable, Equatable {
    public var input: FrameInput
    public var position: Int

    public init(_ input: FrameInput, at position: Int) {
        self.input = input
        self.position = position
    }
}

/// How a keyframe reaches a provider.
public enum FrameInput: Sendable, Equatable {
    /// A URL the provider fetches (https, or a signed URL of the worker's artifact server).
    case url(String)
    /// The image itself, for APIs that take inline data.
    case inline(bytes: [UInt8], mediaType: String)
    /// A completed generation of the same API: its last frame as a start, its first as an end.
    case generation(id: String)
    /// A file uploaded to the API's own storage (Luma Agents' Files API), by its id.
    case file(id: String)
}

/// Which kinds of `FrameInput` an API takes.
public struct FrameKinds: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let url = FrameKinds(rawValue: 1)
    public static let inline = FrameKinds(rawValue: 2)
    public static let generation = FrameKinds(rawValue: 4)
    /// Files uploaded once to the provider and named by id (`FileUploading`).
    public static let file = FrameKinds(rawValue: 8)
}

/// Where a generation stands, as one poll saw it.
public enum GenerationStatus: Sendable, Equatable {
    /// Still queued or rendering; the provider's own word for the state.
    case pending(String)
    /// Done: where to download the video (a presigned URL may expire: poll again for a fresh one).
    /// `exrURL`: the HDR export (Luma Agents' `exr` output), when the generation has one.
    case completed(videoURL: String, exrURL: String? = nil)
    /// The provider gave up on it. `terminal` when asking again cannot help (moderation).
    case failed(code: String?, reason: String, terminal: Bool)
}

/// One provider API as a worker uses it: submit a generation, then poll it by id.
///
/// Implementations make blocking HTTP calls and are used by one engine thread at a time.
/// Failures are thrown as a `ProviderErrorClassifier.Verdict`, already classified.
public protocol VideoAPI {
    /// The provider that bills for this API (`luma`, `fal`, `wavespeed`).
    var provider: Provider { get }
    /// The API's name, so chaining can tell whether a generation id is meaningful to it.
    var api: String { get }
    /// The frame inputs the API accepts.
    var frameKinds: FrameKinds { get }
    /// Creates a generation; returns the provider's request id.
    func submit(_ request: VideoRequest) throws(ProviderErrorClassifier.Verdict) -> String
    /// Polls a generation; nil when the provider says it does not exist.
    func status(of id: String) throws(ProviderErrorClassifier.Verdict) -> GenerationStatus?
    /// How long to wait before repeating a create the provider refused with `verdict`, when
    /// its SDK repeats it because no generation can have been created; nil to give up.
    /// `attempt` counts the refused creates so far (1 for the first). A 429 is ridden out by
    /// the engine itself, as Retry-After asks.
    func createRetryDelay(after verdict: ProviderErrorClassifier.Verdict, attempt: Int) -> Duration?
}

/// An API that lists an account's generations (Dream Machine's `GET /generations`): a create
/// whose answer was lost is looked for there before anything is created again, so that a
/// generation the provider made (and bills) is adopted rather than paid for twice.
public protocol GenerationListing {
    /// The id of a generation this request made at or after `since` (the provider's clock may
    /// differ a little: give some slack), or nil when the list shows none.
    func findGeneration(for request: VideoRequest, since: Date) throws(ProviderErrorClassifier.Verdict) -> String?
}

extension VideoAPI {
    public func createRetryDelay(after verdict: ProviderErrorClassifier.Verdict, attempt: Int) -> Duration? { nil }
}

extension ProviderErrorClassifier.Verdict: Error {}

/// The shared JSON exchange of every adapter: send a typed body, classify a non-2xx status or
/// a transport failure, and parse the answer as a JSON object.
struct JSONExchange {
    let client: HTTPClient
    let provider: Provider
    let headers: [(String, String)]

    enum Answer {
        case object([String: Any])
        case notFound
    }

    /// Sends a request without a body; a 404 is `.notFound` when `notFoundIsAnswer`, else
    /// classified like any other status.
    func send(_ method: String, _ url: String, notFoundIsAnswer: Bool = false) throws(ProviderErrorClassifier.Verdict) -> Answer {
        try send(method, url, bytes: nil, notFoundIsAnswer: notFoundIsAnswer)
    }

    /// Sends a request with a JSON body (keys sorted, slashes as they are).
    func send(_ method: String, _ url: String, body: some Encodable) throws(ProviderErrorClassifier.Verdict) -> Answer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(body) else {
            throw ProviderErrorClassifier.Verdict(errorClass: .invalid, message: "\(provider): the request body cannot be written as JSON")
        }
        return try send(method, url, bytes: [UInt8](data))
    }

    private func send(_ method: String, _ url: String, bytes: [UInt8]?,
                      notFoundIsAnswer: Bool = false) throws(ProviderErrorClassifier.Verdict) -> Answer {
        var requestHeaders = headers
        requestHeaders.append(("Accept", "application/json"))
        if bytes != nil { requestHeaders.append(("Content-Type", "application/json")) }
        let response: HTTPResponse
        do {
            response = try client.send(HTTPRequest(method: method, url: url, headers: requestHeaders, body: bytes))
        } catch {
            throw ProviderErrorClassifier.classify(error, provider: provider.rawValue)
        }
        if response.status == 404 && notFoundIsAnswer { return .notFound }
        if let verdict = ProviderErrorClassifier.classify(response, provider: provider.rawValue) { throw verdict }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] else {
            // A 2xx we cannot read: the provider is misbehaving; asking again may well work.
            throw ProviderErrorClassifier.Verdict(
                errorClass: .transient,
                message: "\(provider): \(method) \(HTTPError.redacted(url)) answered HTTP \(response.status) with a body that is not a JSON object")
        }
        return .object(object)
    }

    /// POSTs a create request and returns the id at `idPath` in the answer.
    func create(_ url: String, body: some Encodable, idPath: String...) throws(ProviderErrorClassifier.Verdict) -> String {
        guard case .object(let answer) = try send("POST", url, body: body) else {
            throw ProviderErrorClassifier.Verdict(errorClass: .transient, message: "\(provider): the create request got no answer")
        }
        var current: Any? = answer
        for key in idPath { current = (current as? [String: Any])?[key] }
        guard let id = current as? String, !id.isEmpty else {
            throw ProviderErrorClassifier.Verdict(
                errorClass: .transient, message: "\(provider): the create answer has no \(idPath.joined(separator: ".")) string")
        }
        return id
    }

    /// GETs a generation's state: the answer, or nil when the provider says it does not exist.
    func poll(_ url: String) throws(ProviderErrorClassifier.Verdict) -> [String: Any]? {
        guard case .object(let answer) = try send("GET", url, notFoundIsAnswer: true) else { return nil }
        return answer
    }

    /// A required string field, or a transient verdict naming it.
    func string(_ object: [String: Any], _ path: String...) throws(ProviderErrorClassifier.Verdict) -> String {
        var current: Any? = object
        for key in path { current = (current as? [String: Any])?[key] }
        guard let text = current as? String, !text.isEmpty else {
            throw ProviderErrorClassifier.Verdict(
                errorClass: .transient, message: "\(provider): the answer has no \(path.joined(separator: ".")) string")
        }
        return text
    }

    /// Whether a failure reason reads as a content-moderation refusal (asking again cannot help).
    static func isModeration(_ text: String) -> Bool {
        let lowered = text.lowercased()
        return ["moderation", "nsfw", "content policy", "safety"].contains { lowered.contains($0) }
    }
}

extension FrameInput {
    /// `data:image/png;base64,...`, for APIs that take data URIs in place of URLs.
    var urlOrDataURI: String? {
        switch self {
        case .url(let url): url
        case .inline(let bytes, let type): "data:\(type);base64,\(Data(bytes).base64EncodedString())"
        case .generation, .file: nil
        }
    }
}
