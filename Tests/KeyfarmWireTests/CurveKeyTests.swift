import Foundation
import KeyfarmWire
import Testing

/// CURVE keys and key files: generation, Z85, the files `keyfarm keys generate` writes and
/// every way a hand-edited file can be wrong.
@Suite struct CurveKeyTests {
    /// A fresh directory for one test, removed by the caller.
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appending(path: "kf-keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String, mode: Int = 0o600) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    @Test func libzmqHasCurve() {
        #expect(Curve.isAvailable)
    }

    @Test func z85MatchesRFC32() {
        // The test vector of ZeroMQ RFC 32.
        #expect(Z85.encode([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]) == "HelloWorld")
        #expect(Z85.decode("HelloWorld") == [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
        #expect(Z85.decode("Hello") != nil)
        #expect(Z85.decode("Hell") == nil)          // not whole groups
        #expect(Z85.decode("Hello Worl") == nil)    // a space is not in the alphabet
        #expect(Z85.decode("%%%%%") == nil)         // above 2^32 - 1
        #expect(Z85.decode("") == nil)
    }

    @Test func generatedKeysRoundTripThroughTheirFiles() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = try Curve.generate()
        let written = try CurveKeyFile.write(secret, name: "render-07", directory: directory, overwrite: false)
        #expect(written.secretPath == directory + "/render-07.key")
        #expect(written.publicPath == directory + "/render-07.pub")
        let readSecret = try CurveKeyFile.readSecret(written.secretPath)
        #expect(readSecret.publicKey == secret.publicKey)
        #expect(try CurveKeyFile.readPublic(written.publicPath) == secret.publicKey)
        #expect(secret.publicKey.z85.count == 40)
        #expect(CurvePublicKey(z85: secret.publicKey.z85) == secret.publicKey)
        // Only the public half shows when a secret is printed.
        #expect("\(secret)" == "CurveSecretKey(public: \(secret.publicKey.z85))")
        let pub = try String(contentsOfFile: written.publicPath, encoding: .utf8)
        #expect(!pub.contains("secret-key"))
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["render-07.key", "render-07.pub"])
    }

    @Test func theSecretFileIsMode0600WhateverTheUmask() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old = umask(0)
        defer { umask(old) }
        let written = try CurveKeyFile.write(try Curve.generate(), name: "open-umask", directory: directory, overwrite: false)
        let secretMode = try FileManager.default.attributesOfItem(atPath: written.secretPath)[.posixPermissions] as? Int
        let publicMode = try FileManager.default.attributesOfItem(atPath: written.publicPath)[.posixPermissions] as? Int
        #expect(secretMode == 0o600)
        #expect(publicMode == 0o644)
    }

    @Test func existingFilesAreKeptWithoutOverwriteAndReplacedWithIt() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try Curve.generate()
        _ = try CurveKeyFile.write(first, name: "w", directory: directory, overwrite: false)
        let second = try Curve.generate()
        #expect(throws: CurveKeyFile.Failure.self) {
            try CurveKeyFile.write(second, name: "w", directory: directory, overwrite: false)
        }
        #expect(try CurveKeyFile.readSecret(directory + "/w.key").publicKey == first.publicKey)
        _ = try CurveKeyFile.write(second, name: "w", directory: directory, overwrite: true)
        #expect(try CurveKeyFile.readSecret(directory + "/w.key").publicKey == second.publicKey)
        #expect(try CurveKeyFile.readPublic(directory + "/w.pub") == second.publicKey)
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/w.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func malformedFilesAreRefusedNamingTheFileAndLine() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = try Curve.generate()
        let written = try CurveKeyFile.write(secret, name: "real", directory: directory, overwrite: false)
        let secretLine = try String(contentsOfFile: written.secretPath, encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("secret-key") }.map(String.init) ?? ""
        let secretText = String(secretLine.dropFirst("secret-key = \"".count).dropLast())
        let other = try Curve.generate().publicKey.z85

        func failure(_ text: String, secret: Bool, mode: Int = 0o600) throws -> CurveKeyFile.Failure? {
            let path = directory + "/case"
            try Self.write(text, to: path, mode: mode)
            do {
                if secret { _ = try CurveKeyFile.readSecret(path) } else { _ = try CurveKeyFile.readPublic(path) }
                return nil
            } catch {
                #expect(error.description.hasPrefix(path + ": "))
                #expect(!error.description.contains(secretText), "a secret is never quoted")
                return error
            }
        }
        let cases: [(String, Bool, String)] = [
            ("", false, "no public-key line"),
            ("# only a comment\n", true, "no secret-key line"),
            ("public-key = \"tooshort\"\n", false, "line 1: the public-key is not 40 Z85 characters"),
            ("public-key = \(other)\n", false, "line 1: the public-key must be in double quotes"),
            ("\n\npublic-key: \"\(other)\"\n", false, "line 3: expected public-key"),
            ("public-key = \"\(other)\"\npublic-key = \"\(other)\"\n", false, "line 2: a second public-key line"),
            ("public-key = \"\(other.dropLast())~\"\n", false, "line 1: the public-key is not 40 Z85 characters"),
            ("secret-key = \"\(secretText.dropLast())\"\n", true, "line 1: the secret-key is not 40 Z85 characters"),
            ("public-key = \"\(other)\"\n\(secretLine)\n", true, "line 1: the public-key does not belong to the secret-key"),
            (secretLine + "\n", false, "holds a secret key"),
            ("public-key = \"\(other)\"\n", true, "no secret-key line"),
        ]
        for (text, secret, expected) in cases {
            let refused = try failure(text, secret: secret)
            #expect(refused?.description.contains(expected) == true, "\(text.debugDescription): \(refused?.description ?? "accepted")")
            #expect(refused?.kind == .malformed)
        }
        // A secret other users may read is refused; group-readable (root:keyfarm 0640) is fine.
        let exposed = try failure(secretLine + "\n", secret: true, mode: 0o644)
        #expect(exposed?.kind == .exposed)
        #expect(exposed?.description.contains("other users may read this secret key (mode 644)") == true)
        #expect(try failure(secretLine + "\n", secret: true, mode: 0o640) == nil)
        // Comments, blank lines and CRLF line ends are fine.
        #expect(try failure("# a comment\r\n\r\n  public-key = \"\(other)\"  \r\n", secret: false) == nil)
        // Missing and binary files.
        #expect(throws: CurveKeyFile.Failure.self) { try CurveKeyFile.readPublic(directory + "/nope.pub") }
        do {
            _ = try CurveKeyFile.readPublic(directory + "/nope.pub")
        } catch {
            #expect(error.kind == .missing && error.description == directory + "/nope.pub: no such file")
        }
        #expect(try failure(String(decoding: [0xFF, 0xFE, 0x00], as: UTF8.self), secret: false)?.kind == .malformed)
        #expect(try failure(String(repeating: "#", count: 70_000), secret: false)?.description.contains("too large") == true)
    }

    @Test func keyNamesAreSafeFileNames() {
        for good in ["render-07", "coordinator", "a", "w.2025b", "host_name"] { #expect(CurveKeyFile.isValidName(good)) }
        for bad in ["", "-x", ".hidden", "a/b", "../x", "with space", String(repeating: "a", count: 129), "é"] {
            #expect(!CurveKeyFile.isValidName(bad), "\(bad)")
        }
    }
}
