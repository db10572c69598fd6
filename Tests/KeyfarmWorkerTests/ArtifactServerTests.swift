import Foundation
import KeyfarmProcess
import KeyfarmTestSupport
@testable import KeyfarmWorker
import Logging
import Testing

/// Signed URLs and the worker's artifact server: only what was signed, only until it expires.
@Suite struct ArtifactServerTests {
    static func query(_ url: String) -> (path: String, query: [String: String]) {
        let components = URLComponents(string: url)!
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value }
        return (components.path, query)
    }

    @Test func aSignedURLVerifiesUntilItExpiresAndNotWhenTampered() throws {
        let signer = URLSigner(publicURL: "https://worker-3.example.com:8443/", lifetime: .seconds(60))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let url = signer.url(for: "/srv/shots/refs/sh010 a.png", now: now)
        #expect(url.hasPrefix("https://worker-3.example.com:8443/artifacts/"))
        #expect(url.contains("/sh010_a.png?expires=1800000060&signature="))
        let (path, query) = Self.query(url)
        #expect(signer.verify(path: path, query: query, now: now) == .success("/srv/shots/refs/sh010 a.png"))
        #expect(signer.verify(path: path, query: query, now: now + 61) == .failure(.expired))
        var later = query
        later["expires"] = "1900000000"
        #expect(signer.verify(path: path, query: later, now: now) == .failure(.badSignature))
        let otherFile = path.replacingOccurrences(of: "/artifacts/", with: "/artifacts/L2V0Yy9wYXNzd2Q")
        #expect(signer.verify(path: otherFile, query: query, now: now) != .success("/etc/passwd"))
        #expect(signer.verify(path: "/artifacts/x", query: query, now: now) == .failure(.malformed))
        // Another worker's key signs differently.
        let stranger = URLSigner(publicURL: "https://worker-3.example.com:8443")
        #expect(stranger.verify(path: path, query: query, now: now) == .failure(.badSignature))
    }

    @Test func theServerServesSignedFilesOnly() async throws {
        let directory = NSTemporaryDirectory() + "keyfarm-artifacts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]
        #expect(FileManager.default.createFile(atPath: directory + "/key.png", contents: Data(png)))
        let port = freeLoopbackPort()
        // Roomy bounds: the server's tasks share the cooperative pool with every other test.
        let server = try await ArtifactServer.start(listen: "127.0.0.1:\(port)", publicURL: "http://127.0.0.1:\(port)",
                                                    listenTimeout: 90, logger: Logger(label: "test"))
        let signed = server.signer.url(for: directory + "/key.png")
        let fetched = try await offPool { try curl(signed) }
        #expect(fetched.status == 200 && fetched.body == png && fetched.type == "image/png")
        let unsigned = signed.components(separatedBy: "?")[0]
        #expect(try await offPool { try curl(unsigned) }.status == 403)
        let tampered = signed.replacingOccurrences(of: "signature=", with: "signature=0")
        #expect(try await offPool { try curl(tampered) }.status == 403)
        let missing = server.signer.url(for: directory + "/gone.png")
        #expect(try await offPool { try curl(missing) }.status == 404)
        await server.stop()
    }
}

/// A GET with curl: status, body and content type.
func curl(_ url: String) throws -> (status: Int, body: [UInt8], type: String) {
    let bodyPath = NSTemporaryDirectory() + "keyfarm-curl-\(UUID().uuidString).body"
    defer { unlink(bodyPath) }
    let outcome = try ChildProcess(executable: "curl", arguments: [
        "-sS", "--max-time", "90", "-o", bodyPath, "-w", "%{http_code} %{content_type}", "-g", url,
    ], environment: [:]).run()
    let parts = outcome.output.split(separator: " ", maxSplits: 1)
    let body = FileManager.default.contents(atPath: bodyPath).map { [UInt8]($0) } ?? []
    return (Int(parts.first ?? "") ?? 0, body, parts.count > 1 ? String(parts[1]) : "")
}
