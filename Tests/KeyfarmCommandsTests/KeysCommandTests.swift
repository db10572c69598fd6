import Foundation
import KeyfarmTestSupport
import KeyfarmWire
import Testing

@Suite struct KeysCommandTests {
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appending(path: "kf-keys-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func generateWritesAPairAndRefusesToOverwriteWithoutForce() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = keyfarm("keys", "generate", "render-07", "--directory", dir)
        #expect(made.status == 0, "\(made.error)")
        let key = try CurveKeyFile.readPublic(dir + "/render-07.pub")
        #expect(made.out.contains("public key \(key.z85)"))
        #expect(made.out.contains("mode 0600"))
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/render-07.key")[.posixPermissions] as? Int == 0o600)

        let again = keyfarm("keys", "generate", "render-07", "--directory", dir)
        #expect(again.status == 65)
        #expect(again.error.contains("\(dir)/render-07.key: already exists; give --force"))
        #expect(try CurveKeyFile.readPublic(dir + "/render-07.pub") == key)
        let forced = keyfarm("keys", "generate", "render-07", "--directory", dir, "--force")
        #expect(forced.status == 0, "\(forced.error)")
        #expect(try CurveKeyFile.readPublic(dir + "/render-07.pub") != key)

        let badName = keyfarm("keys", "generate", "../escape", "--directory", dir)
        #expect(badName.status == 65 && badName.error.contains("\"../escape\" is not a key name"))
        let noDirectory = keyfarm("keys", "generate", "x", "--directory", dir + "/missing")
        #expect(noDirectory.status == 66 && noDirectory.error.contains("no such directory"))
    }

    @Test func addListRemoveAndRefuseBadInput() throws {
        let db = try TestPostgres.freshDatabase()
        #expect(keyfarm("migrate", "--database-url", db).status == 0)
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(keyfarm("keys", "generate", "render-07", "--directory", dir).status == 0)
        #expect(keyfarm("keys", "generate", "render-08", "--directory", dir).status == 0)
        let key7 = try CurveKeyFile.readPublic(dir + "/render-07.pub").z85
        let key8 = try CurveKeyFile.readPublic(dir + "/render-08.pub").z85

        #expect(keyfarm("keys", "--database-url", db).out.contains("no worker keys allowed"))
        let added = keyfarm("keys", "add", dir + "/render-07.pub", "--comment", "rack 3", "--database-url", db)
        #expect(added.status == 0, "\(added.error)")
        #expect(added.out.contains("allowed worker key render-07 (\(key7))"))
        #expect(keyfarm("keys", "add", dir + "/render-08.pub", "--name", "spare", "--database-url", db).status == 0)

        let listing = keyfarm("keys", "list", "--json", "--database-url", db)
        #expect(listing.status == 0, "\(listing.error)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["render-07", "spare"])
        #expect(rows.first?["public_key"] as? String == key7 && rows.first?["comment"] as? String == "rack 3")
        #expect(rows.first?["added_by"] is String && rows.first?["added_at"] is String)
        let table = keyfarm("keys", "list", "--database-url", db).out
        #expect(table.contains("NAME") && table.contains(key8) && table.contains("rack 3"))

        // Bad input: exit 65, nothing changed.
        let secretFile = keyfarm("keys", "add", dir + "/render-07.key", "--name", "oops", "--database-url", db)
        #expect(secretFile.status == 65)
        #expect(secretFile.error.contains("render-07.key: holds a secret key"))
        let secretText = try String(contentsOfFile: dir + "/render-07.key", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("secret-key") }.map { String($0.dropFirst(14).dropLast()) } ?? "?"
        #expect(!secretFile.error.contains(secretText) && !secretFile.out.contains(secretText))
        let sameName = keyfarm("keys", "add", dir + "/render-08.pub", "--name", "render-07", "--database-url", db)
        #expect(sameName.status == 65 && sameName.error.contains("a key named \"render-07\" is already allowed"))
        let sameKey = keyfarm("keys", "add", dir + "/render-07.pub", "--name", "again", "--database-url", db)
        #expect(sameKey.status == 65 && sameKey.error.contains("already allowed, as \"render-07\""))
        try Data("public-key = \"not a key\"\n".utf8).write(to: URL(fileURLWithPath: dir + "/junk.pub"))
        let junk = keyfarm("keys", "add", dir + "/junk.pub", "--database-url", db)
        #expect(junk.status == 65 && junk.error.contains("\(dir)/junk.pub: line 1: the public-key is not 40 Z85 characters"))
        let badName = keyfarm("keys", "add", dir + "/render-08.pub", "--name", "a b", "--database-url", db)
        #expect(badName.status == 65 && badName.error.contains("--name: \"a b\" is not a key name"))
        #expect(keyfarm("keys", "add", dir + "/missing.pub", "--database-url", db).status == 66)
        #expect(try JSONSerialization.jsonObject(with: Data(keyfarm("keys", "list", "--json", "--database-url", db).out.utf8))
                as? [[String: Any]] != nil)
        #expect(keyfarm("keys", "list", "--json", "--database-url", db).out.components(separatedBy: "\"name\"").count - 1 == 2)

        // Remove by name and by public key.
        let removed = keyfarm("keys", "remove", "render-07", "--database-url", db)
        #expect(removed.status == 0 && removed.out.contains("removed worker key render-07"))
        // `--` first: a Z85 key may start with "-", which would otherwise read as an option.
        #expect(keyfarm("keys", "remove", "--database-url", db, "--", key8).out.contains("removed worker key spare"))
        let gone = keyfarm("keys", "remove", "render-07", "--database-url", db)
        #expect(gone.status == 66 && gone.error.contains("no allowed worker key"))
    }

    @Test func daemonsRefuseHalfAConfigurationAndBadKeyFiles() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(keyfarm("keys", "generate", "w", "--directory", dir).status == 0)
        let onlySecret = keyfarm("worker", "--connect", "tcp://127.0.0.1:1", "--curve-secret-key", dir + "/w.key")
        #expect(onlySecret.status == 78 && onlySecret.error.contains("--curve-secret-key needs --coordinator-public-key"))
        let onlyPublic = keyfarm("worker", "--connect", "tcp://127.0.0.1:1", "--coordinator-public-key", dir + "/w.pub")
        #expect(onlyPublic.status == 78 && onlyPublic.error.contains("--coordinator-public-key needs --curve-secret-key"))
        let swapped = keyfarm("worker", "--connect", "tcp://127.0.0.1:1", "--curve-secret-key", dir + "/w.pub",
                              "--coordinator-public-key", dir + "/w.pub")
        #expect(swapped.status == 65 && swapped.error.contains("--curve-secret-key: \(dir)/w.pub: no secret-key line"))
        try FileManager.default.setAttributes([.posixPermissions: 0o604], ofItemAtPath: dir + "/w.key")
        let exposed = keyfarm("coordinator", "--bind", "tcp://127.0.0.1:0", "--curve-secret-key", dir + "/w.key",
                              "--database-url", "postgresql://127.0.0.1:1/none")
        #expect(exposed.status == 65 && exposed.error.contains("other users may read this secret key"))
    }

    @Test func anUnknownEncodePresetIsRefusedNamingTheChoices() {
        let worker = keyfarm("worker", "--connect", "tcp://127.0.0.1:1", "--encode-preset", "turbo")
        #expect(worker.status == 64)
        #expect(worker.error.contains("--encode-preset: \"turbo\" is not an x264 preset (use one of ultrafast,"), "\(worker.error)")
        let demo = keyfarm("demo", "--encode-preset", "placebo")
        #expect(demo.status == 64)
        #expect(demo.error.contains("--encode-preset: \"placebo\" is not an x264 preset"), "\(demo.error)")
        #expect(keyfarm("worker", "--help").out.contains("--encode-preset"))
    }

    @Test func helpExplainsTheCommands() {
        let help = keyfarm("keys", "--help")
        #expect(help.status == 0)
        #expect(help.out.contains("generate") && help.out.contains("add") && help.out.contains("remove") && help.out.contains("list"))
        #expect(keyfarm("keys", "generate", "--help").out.contains("mode 0600"))
        #expect(keyfarm("coordinator", "--help").out.contains("--curve-secret-key"))
        #expect(keyfarm("worker", "--help").out.contains("--coordinator-public-key"))
    }
}
