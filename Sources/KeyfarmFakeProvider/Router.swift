import FlyingFox
import Foundation
import Logging

/// Sends each request to its API, after recording it and applying the fault plan.
struct Router: Sendable {
    let state: FakeProviderState
    let logger: Logger
    let directory: String

    /// One request, split into what every handler needs.
    struct Call: Sendable {
        var method: String
        var path: String
        var segments: [String]
        var body: Data
        var authorization: String?
        /// `http://host:port` as the client addressed us, for URLs in responses.
        var origin: String
        /// The query string's items, by name.
        var query: [String: String] = [:]

        /// Whether `Authorization` is `<scheme> <something>`: the fake takes any key, but only
        /// in the header and scheme its API publishes.
        func sendsCredential(scheme: String) -> Bool {
            guard let authorization, authorization.hasPrefix(scheme + " ") else { return false }
            return !authorization.dropFirst(scheme.count + 1).trimmingCharacters(in: .whitespaces).isEmpty
        }
    }

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let body = (try? await request.bodyData) ?? Data()
        let authorization = request.headers[HTTPHeader("Authorization")]
        let host = request.headers[HTTPHeader("Host")] ?? "127.0.0.1"
        let call = Call(method: request.method.rawValue, path: request.path,
                        segments: request.path.split(separator: "/").map(String.init), body: body,
                        authorization: authorization, origin: "http://\(host)",
                        query: Dictionary(request.query.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first }))
        // The controls under /_fake are not provider traffic, so the log leaves them out.
        if call.segments.first == "_fake" { return await control(call) }
        let index = await state.record(RecordedRequest(
            method: call.method, path: call.path, time: Date(),
            authHeader: authorization == nil ? nil : "authorization",
            authScheme: authorization.flatMap { $0.split(separator: " ", maxSplits: 1).first.map(String.init) }))
        let response = await route(call)
        await state.complete(index, status: response.statusCode.code)
        return response
    }

    private func route(_ call: Call) async -> HTTPResponse {
        if call.segments.first == "files" { return await file(call) }
        if call.segments.first == "uploads" { return await LumaFilesAPI.upload(call, state: state) }

        let latency = await state.latencyMilliseconds
        if latency > 0 { try? await Task.sleep(for: .milliseconds(latency)) }
        let api = Self.api(call.segments)
        let isCreate = switch api {
        case .luma: call.method == "POST" && call.segments == ["dream-machine", "v1", "generations", "video"]
        case .lumaAgents: LumaAgentsAPI.isCreate(call)
        case .wavespeed: WaveSpeedAPI.isCreate(call)
        case .fal: call.method == "POST" && !call.segments.contains("requests")
        }
        var forcedFailure: ForcedEnd?
        var holdAnswer = 0
        switch await state.takeFault(isCreate: isCreate) {
        case .status(let status, let retryAfter)?:
            var headers: HTTPHeaders = [:]
            if let retryAfter { headers[HTTPHeader("Retry-After")] = "\(retryAfter)" }
            // Each API's own error body, so clients parse an injected fault as they would the real one.
            return switch api {
            case .lumaAgents: LumaAgentsAPI.error(status, Self.phrase(status), headers: headers)
            case .wavespeed: WaveSpeedAPI.error(status, Self.phrase(status), headers: headers)
            case .luma, .fal: JSON.detail(status, Self.phrase(status), headers: headers)
            }
        case .malformed?:
            return HTTPResponse(statusCode: .ok, headers: [HTTPHeader("Content-Type"): "application/json"],
                                body: Data(#"{"id": "5e1c0b6e-not-json, "state": "#.utf8))
        case .hang(let milliseconds)?:
            try? await Task.sleep(for: .milliseconds(milliseconds))
        case .loseAnswer(let milliseconds)?:
            holdAnswer = milliseconds
        case .failGeneration(let reason)?:
            forcedFailure = ForcedEnd(reason: reason)
        case .endAs(let end)?:
            forcedFailure = end
        case nil:
            break
        }
        let response = switch api {
        case .luma: await LumaDreamMachineAPI(state: state).handle(call, forcedFailure: forcedFailure)
        case .lumaAgents: await LumaAgentsAPI(state: state).handle(call, forcedFailure: forcedFailure)
        case .wavespeed: await WaveSpeedAPI(state: state).handle(call, forcedFailure: forcedFailure)
        case .fal: await FalQueueAPI(state: state).handle(call, forcedFailure: forcedFailure)
        }
        // "Created, answer lost": the generation exists, the client hears nothing in time.
        if holdAnswer > 0 { try? await Task.sleep(for: .milliseconds(holdAnswer)) }
        return response
    }

    /// Which API a path belongs to: Dream Machine under `/dream-machine/v1`, Agents under `/v1`,
    /// WaveSpeed under `/api/v3`, and fal's queue, whose model ids start at the root, for the rest.
    static func api(_ segments: [String]) -> FakeAPI {
        if segments.starts(with: ["dream-machine", "v1"]) { return .luma }
        if segments.first == "v1" { return .lumaAgents }
        if segments.starts(with: ["api", "v3"]) { return .wavespeed }
        return .fal
    }

    /// `GET` (a poll) or `DELETE` of one generation by id, as both Luma APIs serve them; they
    /// differ only in their error body and in how they show a generation.
    static func generation(_ id: String, _ call: Call, api: FakeAPI, state: FakeProviderState,
                           error: (Int, String) -> HTTPResponse,
                           object: (FakeGeneration, _ origin: String) async -> [String: Any]) async -> HTTPResponse {
        let id = id.lowercased()
        switch call.method {
        case "GET":
            guard let generation = await state.poll(id, api: api) else { return error(404, "Generation \(id) not found") }
            return JSON.response(200, await object(generation, call.origin))
        case "DELETE":
            guard await state.delete(id, api: api) else { return error(404, "Generation \(id) not found") }
            return HTTPResponse(statusCode: HTTPStatusCode(204, phrase: "No Content"))
        default:
            return error(405, "Method not allowed")
        }
    }

    /// `/_fake/...`: the records and controls tests use; no credentials needed.
    private func control(_ call: Call) async -> HTTPResponse {
        let route = Array(call.segments.dropFirst())
        let asset = route.count == 2 && route[0] == "assets" ? route[1] : nil
        switch (call.method, route.count == 1 ? route[0] : nil) {
        case ("GET", "requests"):
            let records = await state.recordedRequests
            return JSON.response(200, records.map { record -> [String: Any] in
                [
                    "method": record.method, "path": record.path, "time": JSON.timestamp(record.time),
                    "auth_header": record.authHeader ?? NSNull(), "auth_scheme": record.authScheme ?? NSNull(),
                    "status": record.status ?? NSNull(),
                ]
            })
        case ("GET", "billing"):
            return JSON.response(200, await state.billing)
        case ("GET", "faults"):
            return JSON.response(200, ["injected": await state.injectedFaults])
        case ("POST", "faults"):
            do {
                await state.setFaults(try FaultPlan.parse(call.body))
                return JSON.response(200, ["ok": true])
            } catch {
                return JSON.detail(400, error.description)
            }
        case ("POST", "reset"):
            await state.reset()
            return JSON.response(200, ["ok": true])
        case ("PUT", nil) where asset != nil, ("POST", nil) where asset != nil:
            let name = asset!
            guard Self.isSafeName(name) else { return JSON.detail(400, "asset names are letters, digits, '.', '-' and '_'") }
            guard FileManager.default.createFile(atPath: "\(directory)/assets/\(name)", contents: call.body) else {
                return JSON.detail(500, "cannot store the asset")
            }
            return JSON.response(201, ["url": "\(call.origin)/_fake/assets/\(name)"])
        case ("GET", nil) where asset != nil:
            let name = asset!
            guard Self.isSafeName(name) else { return JSON.detail(404, "Not found") }
            return serve("\(directory)/assets/\(name)", type: Self.mediaType(name))
        default:
            return JSON.detail(404, "Not found")
        }
    }

    /// `/files/<id>.mp4`: a completed generation's clip. A presigned URL (`expires`,
    /// `signature`, as Luma Agents' outputs carry) is refused with 403 once it has expired, as
    /// object stores do.
    private func file(_ call: Call) async -> HTTPResponse {
        guard call.method == "GET" || call.method == "HEAD", call.segments.count == 2 else { return JSON.detail(404, "Not found") }
        let name = call.segments[1]
        let exr = name.hasSuffix(".exr.zip")
        guard exr || name.hasSuffix(".mp4") else { return JSON.detail(404, "Not found") }
        let id = String(name.dropLast(exr ? 8 : 4))
        if let expires = call.query["expires"] {
            let secret = state.urlSecret
            guard call.query["signature"] == PresignedURL.signature(id: id, expires: expires, secret: secret),
                  let deadline = Double(expires) else {
                return HTTPResponse(statusCode: .forbidden, body: Data("<Error><Code>SignatureDoesNotMatch</Code></Error>".utf8))
            }
            if Date().timeIntervalSince1970 >= deadline {
                return HTTPResponse(statusCode: .forbidden,
                                    body: Data("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>".utf8))
            }
        }
        if exr {
            guard let path = await state.exrArchivePath(id) else { return JSON.detail(404, "Not found") }
            return serve(path, type: "application/zip")
        }
        guard let path = await state.videoPath(id) else { return JSON.detail(404, "Not found") }
        return serve(path, type: "video/mp4")
    }

    private func serve(_ path: String, type: String) -> HTTPResponse {
        guard let body = try? HTTPBodySequence(file: URL(fileURLWithPath: path), suggestedBufferSize: 65_536) else {
            return JSON.detail(404, "Not found")
        }
        return HTTPResponse(statusCode: .ok, headers: [HTTPHeader("Content-Type"): type], body: body)
    }

    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.count <= 200
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) }
    }

    static func mediaType(_ name: String) -> String {
        switch name.split(separator: ".").last?.lowercased() {
        case "png": "image/png"
        case "jpg", "jpeg": "image/jpeg"
        case "webp": "image/webp"
        case "mp4": "video/mp4"
        default: "application/octet-stream"
        }
    }

    static func phrase(_ status: Int) -> String {
        switch status {
        case 400: "Bad request"
        case 401: "Unauthorized"
        case 402: "Insufficient credits"
        case 403: "Forbidden"
        case 404: "Not found"
        case 422: "Unprocessable entity"
        case 429: "Too many requests"
        case 500: "Internal server error"
        case 502: "Bad gateway"
        case 503: "Service unavailable"
        case 504: "Gateway timeout"
        default: "HTTP \(status)"
        }
    }
}

/// JSON bodies as the providers send them.
enum JSON {
    static func response(_ status: Int, _ object: Any, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers[HTTPHeader("Content-Type")] = "application/json"
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return HTTPResponse(statusCode: HTTPStatusCode(status, phrase: Router.phrase(status)), headers: headers, body: body)
    }

    /// `{"detail": "..."}`, the error body of Luma's Dream Machine API and of fal.
    static func detail(_ status: Int, _ message: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        response(status, ["detail": message], headers: headers)
    }

    /// The body as a JSON object, or nil when it is not one.
    static func object(_ body: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
    }

    /// A JSON `true` or `false`; nil for anything else, the numbers 0 and 1 included (which
    /// Foundation would also turn into a `Bool`).
    static func bool(_ value: Any?) -> Bool? {
        guard let number = value as? NSNumber, String(cString: number.objCType) == "c" else { return nil }
        return number.boolValue
    }

    /// A JSON integer; nil for a boolean, a number with a fraction part or a string of digits.
    static func integer(_ value: Any?) -> Int? {
        guard let number = value as? NSNumber, !["c", "d", "f"].contains(String(cString: number.objCType)) else { return nil }
        return number.intValue
    }

    /// `2024-06-12T20:04:07.447Z`, the providers' timestamps.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
