import Foundation
import Testing

@Suite struct PlanCommandTests {
    @Test func plansTheDemoAsATable() {
        let run = keyfarm("plan", example("demo.yaml"))
        #expect(run.status == 0, "\(run.error)")
        #expect(run.out.contains("shot list demo (project keyfarm-demo): 4 shots, 20 segments, 26 jobs"))
        // sh040's one ray-3.2 generation carries its three keyframes.
        #expect(run.out.contains("sh040/s0 anchors (keyframe@position on the 24 fps grid, 5 s clip, positions 0-120 used): k0@0, k1@60, k2@120"))
        #expect(run.out.contains("sh010/s0") || run.out.contains("s0"))
        #expect(run.out.contains("sh010/stitch"))
        #expect(run.error.isEmpty)
    }

    @Test func plansAsJSONFrameExactly() throws {
        let run = keyfarm("plan", "--json", example("demo.yaml"))
        #expect(run.status == 0, "\(run.error)")
        let plan = try run.json()
        #expect(plan["shot_list"] as? String == "demo")
        // 15 ray-flash-2 clips at 13, one Kling at 35, a 720p ray-3.2 HDR+EXR block at 90 and its reframe at 30.
        #expect(plan["estimated_credits"] as? Int == 350)
        let shots = try #require(plan["shots"] as? [[String: Any]])
        #expect(shots.map { $0["id"] as? String } == ["sh010", "sh020", "sh030", "sh040"])
        #expect(shots.map { $0["frames"] as? Int } == [96, 144, 480, 120])
        let segments = try #require(shots[0]["segments"] as? [[String: Any]])
        #expect(segments.map { $0["start_frame"] as? Int } == [0, 48])
        #expect(segments.map { $0["end_frame"] as? Int } == [48, 95])
        #expect(segments.allSatisfy { $0["engine"] as? String == "interpolate" && ($0["depends_on"] as? [Int]) == [] })
    }

    @Test func plansProvidersWithChainingAndBuckets() throws {
        let run = keyfarm("plan", "--json", example("providers.yaml"))
        #expect(run.status == 0, "\(run.error)")
        let plan = try run.json()
        #expect((plan["estimated_credits"] as? Int ?? 0) > 0)
        let shots = try #require(plan["shots"] as? [[String: Any]])
        let parts = shots.flatMap { ($0["segments"] as? [[String: Any]]) ?? [] }.map { $0["parts"] as? Int ?? 0 }
        #expect(parts.contains { $0 > 1 }, "the 20 s ray-2 shot should be split into chained parts")
        let depends = shots.flatMap { ($0["segments"] as? [[String: Any]]) ?? [] }.compactMap { $0["depends_on"] as? [Int] }
        #expect(depends.contains { !$0.isEmpty }, "a keyframe without an image should chain its segment")
    }

    @Test func rejectsAnInvalidListWithEveryErrorAndStatus65() {
        let run = keyfarm("plan", example("invalid.yaml"))
        #expect(run.status == 65)
        #expect(run.out.isEmpty)
        let lines = run.error.split(separator: "\n").map(String.init)
        #expect(lines.count >= 5, "\(run.error)")
        #expect(lines.allSatisfy { $0.contains("invalid.yaml") })
        #expect(run.error.contains("duration: 24 s, at most 20 s"))
        #expect(run.error.contains("resoluton: unknown key"))
        #expect(run.error.contains("\"luma/ray-9\" is not a known engine"))
        #expect(run.error.contains("no such file"))
        #expect(lines.last?.hasPrefix("keyfarm: error: ") == true)
        #expect(lines.last?.contains("nothing was changed") == true)
    }

    @Test func rejectsBrokenYAMLWithItsLine() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID()).yaml").path
        try "version: 1\nname: x\nshots:\n  - id: a\n    duration: 5: 3\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let run = keyfarm("plan", file)
        #expect(run.status == 65)
        #expect(run.error.contains("line 5, column"))
    }

    @Test func judgesImagesByTheirBytes() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kf-images-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // A JPEG named .png, and a real PNG header named .exr.
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]).write(to: folder.appendingPathComponent("a.png"))
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]).write(to: folder.appendingPathComponent("b.exr"))
        let list = "version: 1\nname: t\nshots:\n  - id: a\n    duration: 2\n    keyframes:\n      - at: 0\n        image: a.png\n      - at: 2\n        image: b.exr\n"
        try list.write(to: folder.appendingPathComponent("list.yaml"), atomically: true, encoding: .utf8)
        let run = keyfarm("plan", folder.appendingPathComponent("list.yaml").path)
        #expect(run.status == 65)
        #expect(run.error.contains("shots[0].keyframes[0].image: a.png: not a PNG or EXR image (starts with ff d8 ff e0, a JPEG)"))
        #expect(!run.error.contains("keyframes[1]"))
    }

    @Test func missingFilesAndBadFlags() {
        let missing = keyfarm("plan", "/no/such/list.yaml")
        #expect(missing.status == 66)
        #expect(missing.error.contains("/no/such/list.yaml: no such file"))
        let flag = keyfarm("plan", "--jsn", example("demo.yaml"))
        #expect(flag.status == 64)
        #expect(flag.error.contains("--jsn"))
        let none = keyfarm("plan")
        #expect(none.status == 64)
    }

    @Test func helpReadsLikeAManPage() {
        let root = keyfarm("--help")
        #expect(root.status == 0)
        for command in ["plan", "submit", "status", "cancel", "migrate"] { #expect(root.out.contains(command)) }
        #expect(root.out.contains("Exit status"))
        let submit = keyfarm("help", "submit")
        #expect(submit.status == 0)
        #expect(submit.out.contains("--database-url"))
        #expect(submit.out.contains("--replace"))
        #expect(keyfarm("--version").out.contains("0.1.0"))
    }
}
