import Foundation
import KeyfarmProviders
import Testing

/// Provider keys from variables and files, and the promise that a key never prints.
@Suite struct ProviderSecretsTests {
    static let key = "luma-sk-0123456789abcdef"

    static func temporaryFile(_ contents: String) throws -> String {
        let path = NSTemporaryDirectory() + "keyfarm-key-\(UUID().uuidString)"
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func keyFromTheVariable() throws {
        let secrets = ProviderSecrets(environment: ["LUMA_API_KEY": Self.key])
        #expect(try secrets.key(for: .luma).reveal() == Self.key)
    }

    @Test func keyFromAFileIsTrimmed() throws {
        let path = try Self.temporaryFile("  fal-key-42:secret\n\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let secrets = ProviderSecrets(environment: ["FAL_KEY_FILE": path])
        #expect(try secrets.key(for: .fal).reveal() == "fal-key-42:secret")
    }

    @Test func eachProviderHasItsOwnVariables() throws {
        let secrets = ProviderSecrets(environment: ["WAVESPEED_API_KEY": "ws-1", "FAL_KEY": "fal-1", "LUMA_API_KEY": "luma-1"])
        #expect(try secrets.key(for: .wavespeed).reveal() == "ws-1")
        #expect(try secrets.key(for: .fal).reveal() == "fal-1")
        #expect(try secrets.key(for: .luma).reveal() == "luma-1")
        #expect(Provider(engine: .lumaRay32) == .luma)
        #expect(Provider(engine: .interpolate) == nil)
    }

    @Test func missingFileNamesVariableAndPathButNotTheKey() throws {
        let path = "/nonexistent/keyfarm/luma.key"
        let secrets = ProviderSecrets(environment: ["LUMA_API_KEY_FILE": path, "FAL_KEY": Self.key])
        let error = try #require(throws: ProviderSecrets.Missing.self) { try secrets.key(for: .luma) }
        #expect(error.description.contains("LUMA_API_KEY_FILE"))
        #expect(error.description.contains(path))
        #expect(!error.description.contains(Self.key))
    }

    @Test func emptyFileIsAnError() throws {
        let path = try Self.temporaryFile(" \n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let secrets = ProviderSecrets(environment: ["WAVESPEED_API_KEY_FILE": path])
        let error = try #require(throws: ProviderSecrets.Missing.self) { try secrets.key(for: .wavespeed) }
        #expect(error.description.contains("WAVESPEED_API_KEY_FILE"))
        #expect(error.description.contains(path))
        #expect(error.description.contains("empty"))
    }

    @Test func nothingSetSaysWhatToSet() throws {
        let error = try #require(throws: ProviderSecrets.Missing.self) { try ProviderSecrets(environment: [:]).key(for: .fal) }
        #expect(error.description.contains("FAL_KEY"))
        #expect(error.description.contains("FAL_KEY_FILE"))
    }

    @Test func secretPrintsRedacted() throws {
        let secret = try ProviderSecrets(environment: ["LUMA_API_KEY": Self.key]).key(for: .luma)
        #expect("\(secret)" == "<redacted>")
        #expect(String(describing: secret) == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains(Self.key))
        #expect("\([secret])".contains("<redacted>") && !"\([secret])".contains(Self.key))
    }
}
