import FlyingFox
import Foundation

/// A file of Luma's Files API, as the fake keeps it.
struct FakeFile: Sendable {
    var id: String
    var mimeType: String
    var sizeBytes: Int
    var filename: String?
    var purpose: String
    var createdAt: Date
    /// `pending` until uploaded and completed, then `ready` (or `failed`); `deleted` once deleted.
    var state: String
    var failureReason: String?
    var bytes: Data?

    /// The file as the API shows it (the SDK's `File`).
    var object: [String: Any] {
        [
            "id": id, "created_at": JSON.timestamp(createdAt), "mime_type": mimeType, "purpose": purpose,
            "size_bytes": sizeBytes, "state": state, "filename": filename ?? NSNull(),
            "failure_reason": failureReason ?? NSNull(),
        ]
    }
}

/// Luma's Files API under `/v1/files`, as the `luma-agents` SDK calls it: `POST /files`
/// (`mime_type`, `size_bytes`, optional `filename`, `purpose` input|reference) answers with the
/// file and a presigned `upload` (`url`, `method: PUT`, `headers`, `expires_at`); the bytes are
/// PUT there without Luma's key; `POST /files/{id}/complete` ingests them (a PNG or JPEG of the
/// declared size becomes `ready`, anything else `failed`); `GET`, `DELETE` and the list.
/// A generation may then name the file as `{file_id}` while it is ready.
struct LumaFilesAPI: Sendable {
    let state: FakeProviderState

    static let mimeTypes: Set = ["image/png", "image/jpeg"]
    static let maxBytes = 50 << 20

    func handle(_ route: [String], _ call: Router.Call) async -> HTTPResponse {
        switch (call.method, route.count) {
        case ("POST", 1): return await create(call)
        case ("GET", 1): return await list(call)
        case ("GET", 2):
            guard let file = await state.file(route[1]) else { return LumaAgentsAPI.error(404, "File \(route[1]) not found") }
            return JSON.response(200, file.object)
        case ("DELETE", 2):
            guard await state.deleteFile(route[1]) else { return LumaAgentsAPI.error(404, "File \(route[1]) not found") }
            return HTTPResponse(statusCode: HTTPStatusCode(204, phrase: "No Content"))
        case ("POST", 3) where route[2] == "complete":
            switch await state.completeFile(route[1]) {
            case .success(let file): return JSON.response(200, file.object)
            case .failure(let problem): return LumaAgentsAPI.error(problem.status, problem.message)
            }
        default:
            return LumaAgentsAPI.error(405, "Method not allowed")
        }
    }

    private func create(_ call: Router.Call) async -> HTTPResponse {
        guard let body = JSON.object(call.body) else { return LumaAgentsAPI.error(400, "Invalid request body: expected a JSON object") }
        let allowed: Set = ["mime_type", "size_bytes", "filename", "purpose", "expires_at", "user_id"]
        if let unknown = body.keys.sorted().first(where: { !allowed.contains($0) }) {
            return LumaAgentsAPI.error(400, "\(unknown): unknown field; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
        guard let mime = body["mime_type"] as? String else { return LumaAgentsAPI.error(422, "mime_type: field required") }
        guard Self.mimeTypes.contains(mime) else {
            return LumaAgentsAPI.error(400, "Invalid mime_type \(mime.debugDescription); this fake takes image/png and image/jpeg")
        }
        guard let size = JSON.integer(body["size_bytes"]) else { return LumaAgentsAPI.error(422, "size_bytes: field required (an integer)") }
        guard size > 0, size <= Self.maxBytes else { return LumaAgentsAPI.error(400, "size_bytes \(size) is out of range (1 to \(Self.maxBytes))") }
        let purpose = body["purpose"] as? String ?? "input"
        guard ["input", "reference"].contains(purpose) else {
            return LumaAgentsAPI.error(400, "Invalid purpose \(purpose.debugDescription); allowed: input, reference")
        }
        let file = await state.createFile(mimeType: mime, sizeBytes: size, filename: body["filename"] as? String, purpose: purpose)
        let lifetime = await state.outputURLLifetimeSeconds
        let expires = Date().addingTimeInterval(Double(lifetime))
        let upload: [String: Any] = [
            "url": PresignedURL.url(origin: call.origin, folder: "uploads", id: file.id, suffix: ".upload", lifetime: lifetime,
                                    secret: state.urlSecret),
            "method": "PUT", "expires_at": JSON.timestamp(expires), "headers": ["Content-Type": mime],
        ]
        return JSON.response(201, ["id": file.id, "state": file.state, "file": file.object, "upload": upload])
    }

    private func list(_ call: Router.Call) async -> HTTPResponse {
        let limit = min(max(Int(call.query["limit"] ?? "") ?? 25, 1), 100)
        var files = await state.files().filter { $0.state != "deleted" }
        if let purpose = call.query["purpose"] { files = files.filter { $0.purpose == purpose } }
        if let wanted = call.query["state"] { files = files.filter { $0.state == wanted } }
        if let cursor = call.query["cursor"], let index = files.firstIndex(where: { $0.id == cursor }) {
            files = Array(files[(index + 1)...])
        }
        let page = Array(files.prefix(limit))
        var answer: [String: Any] = ["data": page.map(\.object), "has_more": files.count > limit]
        if files.count > limit, let last = page.last { answer["next_cursor"] = last.id }
        return JSON.response(200, answer)
    }

    /// `PUT /uploads/{id}.upload?expires=...&signature=...`: the presigned upload, no Luma key.
    static func upload(_ call: Router.Call, state: FakeProviderState) async -> HTTPResponse {
        guard call.method == "PUT", call.segments.count == 2, call.segments[1].hasSuffix(".upload") else {
            return JSON.detail(404, "Not found")
        }
        let id = String(call.segments[1].dropLast(7))
        guard let expires = call.query["expires"], let deadline = Double(expires),
              call.query["signature"] == PresignedURL.signature(id: id, expires: expires, secret: state.urlSecret) else {
            return HTTPResponse(statusCode: .forbidden, body: Data("<Error><Code>SignatureDoesNotMatch</Code></Error>".utf8))
        }
        guard Date().timeIntervalSince1970 < deadline else {
            return HTTPResponse(statusCode: .forbidden, body: Data("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>".utf8))
        }
        guard await state.storeUpload(id, bytes: call.body) else { return JSON.detail(404, "Not found") }
        return HTTPResponse(statusCode: .ok)
    }
}

extension FakeProviderState {
    func createFile(mimeType: String, sizeBytes: Int, filename: String?, purpose: String) -> FakeFile {
        let file = FakeFile(id: "file_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""),
                            mimeType: mimeType, sizeBytes: sizeBytes, filename: filename, purpose: purpose,
                            createdAt: Date(), state: "pending")
        storedFiles[file.id] = file
        fileOrder.append(file.id)
        return file
    }

    func file(_ id: String) -> FakeFile? { storedFiles[id] }
    func files() -> [FakeFile] { fileOrder.compactMap { storedFiles[$0] } }

    func storeUpload(_ id: String, bytes: Data) -> Bool {
        guard storedFiles[id]?.state == "pending" else { return false }
        storedFiles[id]?.bytes = bytes
        return true
    }

    /// Ingests an uploaded file: ready when its bytes are the declared size and type.
    func completeFile(_ id: String) -> Result<FakeFile, LumaAgentsAPI.Problem> {
        guard var file = storedFiles[id], file.state != "deleted" else {
            return .failure(LumaAgentsAPI.Problem(status: 404, message: "File \(id) not found"))
        }
        guard file.state == "pending" else { return .success(file) }
        guard let bytes = file.bytes else {
            return .failure(LumaAgentsAPI.Problem(status: 409, message: "File \(id) has no uploaded bytes yet: PUT them to upload.url first"))
        }
        if bytes.count != file.sizeBytes {
            file.state = "failed"
            file.failureReason = "uploaded \(bytes.count) bytes, declared \(file.sizeBytes)"
        } else if InlineImage.MediaType(sniffing: bytes)?.rawValue != file.mimeType {
            file.state = "failed"
            file.failureReason = "the bytes are not \(file.mimeType)"
        } else {
            file.state = "ready"
        }
        storedFiles[id] = file
        return .success(file)
    }

    /// Soft-deletes a file: it shows as deleted and no generation may use it.
    func deleteFile(_ id: String) -> Bool {
        guard var file = storedFiles[id], file.state != "deleted" else { return false }
        file.state = "deleted"
        file.bytes = nil
        storedFiles[id] = file
        return true
    }

    /// The bytes of a ready file, for a generation that names it.
    func readyFileBytes(_ id: String) -> Data? {
        guard let file = storedFiles[id], file.state == "ready" else { return nil }
        return file.bytes
    }
}
