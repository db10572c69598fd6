import Foundation
import KeyfarmCommands
import KeyfarmPostgres
import KeyfarmTestSupport
import Logging
import Testing

/// `keyfarm providers model`: an operator maps a model Keyfarm does not know, and a shot list
/// that needed the mapping plans, submits, and carries it to the worker in the job's spec.
@Suite struct ModelInputsCommandTests {
    static let engine = "fal/fal-ai/new-model/image-to-video"

    /// One 4 s shot on `engine` from one image to another.
    static func shotList(engine: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyfarm-models-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/new-model.yaml"
        try """
            version: 1
            name: new-model
            shots:
              - id: sh010
                duration: 4
                resolution: 720p
                engine: \(engine)
                keyframes:
                  - { at: 0, image: "\(example("refs/sh010_a.png"))", prompt: "the ball rolls" }
                  - { at: 4, image: "\(example("refs/sh010_c.png"))" }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aSegmentEndingOnAnImageNeedsItsModelsEndField() throws {
        let file = try Self.shotList(engine: Self.engine)
        let run = keyfarm("plan", file)
        #expect(run.status == 65)
        #expect(run.error.contains("shots[0].keyframes[1].image: segment 0 of shot sh010 ends on this image"), "\(run.error)")
        #expect(run.error.contains("the end-frame field of \(Self.engine) (shots[0].engine) is unknown"), "\(run.error)")
        #expect(run.error.contains("keyfarm providers model set \(Self.engine)"), "\(run.error)")
        // A model known to take no end frame is refused too, naming that.
        let noEnd = keyfarm("plan", try Self.shotList(engine: "fal/fal-ai/kling-video/v1/standard/image-to-video"))
        #expect(noEnd.status == 65 && noEnd.error.contains("takes no end frame (end field: none, built-in mapping)"), "\(noEnd.error)")
        // A known model plans, its jobs carrying the built-in mapping.
        let known = keyfarm("plan", "--json", try Self.shotList(engine: "fal/fal-ai/kling-video/v2.6/pro/image-to-video"))
        #expect(known.status == 0, "\(known.error)")
        let inputs = try #require(Self.segmentInputs(try known.json()))
        #expect(inputs["start_field"] as? String == "start_image_url" && inputs["end_field"] as? String == "end_image_url")
    }

    @Test func anOperatorMapsAModelAndSubmitCarriesIt() throws {
        let db = try TestPostgres.freshDatabase()
        #expect(keyfarm("migrate", "--database-url", db).status == 0)
        let file = try Self.shotList(engine: Self.engine)
        let refused = keyfarm("submit", file, "--database-url", db)
        #expect(refused.status == 65 && refused.error.contains("end-frame field of \(Self.engine)"), "\(refused.error)")

        let set = keyfarm("providers", "model", "set", Self.engine, "--start-field", "first_frame_url", "--end-field", "last_frame_url",
                          "--duration", "string", "--resolution-field", "resolution", "--resolutions", "720p,1080p",
                          "--aspect-field", "aspect_ratio", "--database-url", db)
        #expect(set.status == 0, "\(set.error)")
        #expect(set.out.contains("start first_frame_url, end last_frame_url, duration string, resolution 720p|1080p, aspect aspect_ratio"))

        // plan reads the mapping only when told where the database is.
        #expect(keyfarm("plan", file).status == 65)
        let planned = keyfarm("plan", "--json", file, "--database-url", db)
        #expect(planned.status == 0, "\(planned.error)")
        #expect(try Self.segmentInputs(planned.json())?["end_field"] as? String == "last_frame_url")

        let submitted = keyfarm("submit", file, "--database-url", db)
        #expect(submitted.status == 0, "\(submitted.error)")
        let connection = try PostgresConnection(conninfo: db, logger: Logger(label: "test"))
        let spec = try #require(try connection.execute("SELECT spec::text AS spec FROM keyfarm.jobs WHERE job_key = 'sh010/s0'")
            .rows.first?.decode("spec", as: String.self))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(spec.utf8)) as? [String: Any])
        let inputs = try #require(document["model_inputs"] as? [String: Any])
        #expect(inputs["start_field"] as? String == "first_frame_url" && inputs["end_field"] as? String == "last_frame_url")
        #expect(inputs["resolutions"] as? [String] == ["720p", "1080p"] && inputs["aspect_field"] as? String == "aspect_ratio")

        let listing = keyfarm("providers", "model", "list", "--json", "--database-url", db)
        #expect(listing.status == 0, "\(listing.error)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [[String: Any]])
        let mine = try #require(entries.first { $0["engine"] as? String == Self.engine })
        #expect(mine["source"] as? String == "operator" && mine["updated_at"] is String && mine["duration"] as? String == "string")
        let turbo = try #require(entries.first { $0["engine"] as? String == "wavespeed/kwaivgi/kling-v2.5-turbo-pro/image-to-video" })
        #expect(turbo["source"] as? String == "built-in" && turbo["end_field"] as? String == "last_image" && turbo["updated_at"] is NSNull)
        let table = keyfarm("providers", "model", "--database-url", db)
        #expect(table.status == 0 && table.out.contains("operator") && table.out.contains("tail_image_url"))

        #expect(keyfarm("providers", "model", "remove", Self.engine, "--database-url", db).status == 0)
        let again = keyfarm("providers", "model", "remove", Self.engine, "--database-url", db)
        #expect(again.status == 66 && again.error.contains("no operator mapping to remove"), "\(again.error)")
    }

    @Test func badMappingsAreRefusedNamingTheOption() throws {
        let db = try TestPostgres.freshDatabase()
        #expect(keyfarm("migrate", "--database-url", db).status == 0)
        func set(_ extra: [String]) -> Run {
            keyfarm(["providers", "model", "set"] + extra + ["--database-url", db])
        }
        let cases: [([String], Int32, String)] = [
            ([Self.engine, "--end-field", "none", "--duration", "minutes"], 65, "--duration: \"minutes\" is not one of int, string, luma"),
            ([Self.engine, "--end-field", "end image", "--duration", "int"], 65, "--end-field: \"end image\" is not a field name"),
            ([Self.engine, "--end-field", "none", "--duration", "int", "--resolution-field", "pixels"], 65, "--resolution-field"),
            ([Self.engine, "--end-field", "none", "--duration", "int", "--resolution-field", "size", "--resolutions", "720p"], 65,
             "--resolutions: \"720p\" is not a size value such as 1280*720"),
            ([Self.engine, "--end-field", "none", "--duration", "int", "--resolutions", "720p"], 64, "--resolutions needs --resolution-field"),
            (["luma/ray-2", "--end-field", "none", "--duration", "int"], 65, "\"luma/ray-2\" is not a fal or WaveSpeed model"),
        ]
        for (arguments, status, message) in cases {
            let run = set(arguments)
            #expect(run.status == status, "\(arguments): \(run.status) \(run.error)")
            #expect(run.error.contains(message), "\(arguments): \(run.error)")
        }
        #expect(try JSONSerialization.jsonObject(with: Data(keyfarm("providers", "model", "list", "--json", "--database-url", db).out.utf8))
            as? [[String: Any]] != nil)
        let listing = keyfarm("providers", "model", "list", "--json", "--database-url", db).out
        #expect(!listing.contains("\"operator\""), "nothing was stored")
    }

    /// The `model_inputs` of the first segment job in `plan --json`.
    static func segmentInputs(_ plan: [String: Any]) -> [String: Any]? {
        let shots = plan["shots"] as? [[String: Any]]
        let segments = shots?.first?["segments"] as? [[String: Any]]
        let jobs = segments?.first?["jobs"] as? [[String: Any]]
        return jobs?.first?["model_inputs"] as? [String: Any]
    }
}

private func keyfarm(_ arguments: [String]) -> Run {
    let captured = CapturedConsole()
    var base = ProcessInfo.processInfo.environment
    base.removeValue(forKey: "KEYFARM_DATABASE_URL")
    return Run(status: KeyfarmCLI.run(arguments, console: captured.console, environment: base), out: captured.out, error: captured.error)
}
