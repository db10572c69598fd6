import Foundation
import KeyfarmProcess
import KeyfarmTestSupport
@testable import KeyfarmFakeProvider
import KeyfarmProviders
import Logging
import Testing

/// A fake provider running as its own process.
struct RunningFake: Sendable {
    let baseURL: String
}

/// Starts `keyfarm fake-provider` as a real process on a free loopback port for one test and
/// stops it afterwards. Its own process, not a task here: Swift Testing runs the suite's
/// blocking tests on the same small cooperative pool, which could starve an in-process server.
func withFakeProvider(_ options: FakeProviderOptions = .init(),
                      _ body: (RunningFake) async throws -> Void) async throws {
    var arguments = ["fake-provider", "--listen", "127.0.0.1:0"]
    if case .after(let step) = options.pacing {
        arguments += ["--step-ms", "\(step.components.seconds * 1000 + step.components.attoseconds / 1_000_000_000_000_000)"]
    }
    let daemon = try TestDaemon(try builtKeyfarm(), arguments, environment: ProcessInfo.processInfo.environment)
    defer {
        daemon.signal(SIGTERM)
        if daemon.wait(timeout: .seconds(10)) == nil { daemon.killHard() }
    }
    var baseURL: String?
    for _ in 0..<600 where baseURL == nil {
        baseURL = daemon.log.split(separator: "\n").first { $0.hasPrefix("http://") }.map(String.init)
        if baseURL == nil {
            guard daemon.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
    guard let baseURL else {
        throw ChildProcessError(description: "keyfarm fake-provider did not start: \(daemon.log)")
    }
    try await body(RunningFake(baseURL: baseURL))
}

/// Runs blocking client code on its own thread, so it never starves the server's tasks.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// A blocking client for one test thread, speaking to the fake.
final class FakeClient {
    let base: String
    let http: HTTPClient

    init(_ base: String) throws {
        self.base = base
        http = try HTTPClient(limits: .init(connectTimeout: .seconds(2), totalTimeout: .seconds(20)),
                              logger: Logger(label: "test.client"))
    }

    static let lumaKey = "luma-sk-test-b7f3c1d9e2"
    static let falKey = "fal-key-test-4a8e6b0c"
    static let wavespeedKey = "ws-test-5d2f9a7e13"

    func send(_ method: String, _ path: String, auth: String? = "Bearer \(lumaKey)", json: Any? = nil,
              raw: [UInt8]? = nil) throws -> KeyfarmProviders.HTTPResponse {
        var headers: [(String, String)] = []
        if let auth { headers.append(("Authorization", auth)) }
        var body = raw
        if let json {
            headers.append(("Content-Type", "application/json"))
            body = Array(try JSONSerialization.data(withJSONObject: json))
        }
        return try http.send(HTTPRequest(method: method, url: path.hasPrefix("http") ? path : base + path,
                                         headers: headers, body: body))
    }

    /// Stores a file from the repository's examples as an asset of the fake and returns its URL.
    func upload(_ repositoryPath: String, as name: String) throws -> String {
        let bytes = try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent(repositoryPath)))
        let response = try send("PUT", "/_fake/assets/\(name)", auth: nil, raw: bytes)
        guard response.status == 201, let url = try object(response)["url"] as? String else {
            throw FakeTestError("upload of \(name) answered \(response.status)")
        }
        return url
    }

    /// Polls `path` until `done` holds for the state at `key` (inside the object at `container`,
    /// when the API wraps it as WaveSpeed does in `data`), at most `limit`; returns the (unwrapped)
    /// last body and every state seen.
    func poll(_ path: String, auth: String? = "Bearer \(lumaKey)", key: String, in container: String? = nil,
              limit: Duration = .seconds(60),
              until done: (String) -> Bool) throws -> (last: [String: Any], states: [String]) {
        let deadline = ContinuousClock.now + limit
        var states: [String] = []
        while true {
            let response = try send("GET", path, auth: auth)
            guard response.status == 200 else { throw FakeTestError("poll answered \(response.status): \(response.text)") }
            var body = try object(response)
            if let container { body = body[container] as? [String: Any] ?? [:] }
            let state = body[key] as? String ?? "?"
            if states.last != state { states.append(state) }
            if done(state) { return (body, states) }
            guard ContinuousClock.now < deadline else { throw FakeTestError("still \(state) after \(limit); saw \(states)") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }
}

func object(_ response: KeyfarmProviders.HTTPResponse) throws -> [String: Any] {
    guard let value = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
        throw FakeTestError("not a JSON object: \(response.text)")
    }
    return value
}

extension KeyfarmProviders.HTTPResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// What ffprobe says about a clip's first video stream.
struct Probe: Equatable {
    var codec: String
    var width: Int
    var height: Int
    var frames: Int

    static func of(_ path: String) throws -> Probe {
        let outcome = try ChildProcess(executable: "/usr/bin/ffprobe", arguments: [
            "-v", "error", "-count_frames", "-select_streams", "v:0",
            "-show_entries", "stream=nb_read_frames,width,height,codec_name", "-of", "json", path,
        ], environment: [:]).run()
        guard outcome.status == 0,
              let json = try JSONSerialization.jsonObject(with: Data(outcome.output.utf8)) as? [String: Any],
              let stream = (json["streams"] as? [[String: Any]])?.first else {
            throw FakeTestError("ffprobe failed: \(outcome.output)")
        }
        return Probe(codec: stream["codec_name"] as? String ?? "", width: stream["width"] as? Int ?? 0,
                     height: stream["height"] as? Int ?? 0, frames: Int(stream["nb_read_frames"] as? String ?? "") ?? -1)
    }
}

/// The PSNR in dB between one frame of a clip (the first, or the last) and an image scaled to the clip's size.
func psnr(clip: String, last: Bool, image: String, width: Int, height: Int) throws -> Double {
    var arguments = ["-nostdin", "-hide_banner"]
    arguments += last ? ["-sseof", "-0.5", "-i", clip] : ["-i", clip]
    arguments += ["-i", image, "-filter_complex",
                  "[0:v]\(last ? "reverse," : "")trim=end_frame=1,format=yuv420p[a];[1:v]scale=\(width):\(height),format=yuv420p[b];[a][b]psnr",
                  "-f", "null", "-"]
    let outcome = try ChildProcess(executable: "/usr/bin/ffmpeg", arguments: arguments, environment: [:]).run()
    guard let range = outcome.output.range(of: "average:") else { throw FakeTestError("no PSNR in: \(outcome.tail())") }
    let value = outcome.output[range.upperBound...].prefix { !$0.isWhitespace }
    return value == "inf" ? .infinity : Double(value) ?? 0
}

/// How well a clip's first and last frames match two images: PSNR in dB of the first frame
/// against `first` and `last`, and of the last frame against `last` and `first`.
struct KeyframeMatch {
    var startOnFirst: Double
    var startOnLast: Double
    var endOnLast: Double
    var endOnFirst: Double

    init(clip: String, first: String, last: String, width: Int, height: Int) throws {
        startOnFirst = try psnr(clip: clip, last: false, image: first, width: width, height: height)
        startOnLast = try psnr(clip: clip, last: false, image: last, width: width, height: height)
        endOnLast = try psnr(clip: clip, last: true, image: last, width: width, height: height)
        endOnFirst = try psnr(clip: clip, last: true, image: first, width: width, height: height)
    }

    /// The clip starts on `first` and ends on `last`, each clearly closer than the other image.
    var startsAndEndsRight: Bool {
        startOnFirst > 30 && startOnFirst > startOnLast + 5 && endOnLast > 30 && endOnLast > endOnFirst + 5
    }
}

/// The absolute path of a file in the repository.
func repositoryFile(_ path: String) -> String { repositoryRoot.appendingPathComponent(path).path }

/// A JPEG copy of a repository image, made with ffmpeg, at `destination`.
func jpegCopy(of repositoryPath: String, to destination: String) throws -> Data {
    let outcome = try ChildProcess(executable: "/usr/bin/ffmpeg", arguments: [
        "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", repositoryFile(repositoryPath),
        "-frames:v", "1", "-q:v", "2", "-f", "image2", "-c:v", "mjpeg", destination,
    ], environment: [:]).run()
    guard outcome.status == 0 else { throw FakeTestError("ffmpeg could not make a JPEG: \(outcome.tail())") }
    return try Data(contentsOf: URL(fileURLWithPath: destination))
}

struct FakeTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
