import Foundation
import KeyfarmProcess
import KeyfarmTestSupport
import Testing

/// Revisions through real processes: a coordinator, a worker and the fake provider. An edited
/// prompt re-renders only its span and what continues from it; a reuse whose files are gone
/// renders after all.
@Suite struct RevisionRenderTests {
    static func list(_ prompt: String) -> String {
        """
        version: 1
        name: rev
        project: revisions
        defaults: { engine: luma/ray-2, fps: 24, resolution: 540p, outputs: [mp4] }
        shots:
          - id: sh010
            duration: 9
            keyframes:
              - { at: 0, image: "\(Refs.path("sh010_a.png"))", prompt: "the ball rolls" }
              - { at: 3, image: "\(Refs.path("sh010_b.png"))", prompt: "it slows" }
              - { at: 6, prompt: "\(prompt)" }
              - { at: 9, image: "\(Refs.path("sh010_c.png"))" }
          - id: sh020
            duration: 3
            keyframes:
              - { at: 0, image: "\(Refs.path("sh010_c.png"))", prompt: "the crate" }
              - { at: 3, image: "\(Refs.path("sh010_a.png"))" }
        """
    }

    /// Writes `yaml` and submits it with --replace, returning the receipt's JSON.
    static func resubmit(_ provider: ProviderFarm, _ yaml: String, file: String) throws -> [String: Any] {
        let path = provider.directory + "/" + file
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let output = try provider.keyfarm(["submit", path, "--replace", "--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
    }

    /// Waits until every job of shot list `id` succeeded (or one failed).
    static func waitForList(_ provider: ProviderFarm, id: Int64) throws -> Bool {
        func count(_ condition: String) throws -> Int {
            try provider.farm.count("SELECT count(*)::int AS n FROM keyfarm.jobs WHERE shot_list_id = $1 AND \(condition)", [id])
        }
        _ = try eventually(timeout: .seconds(180)) { try count("state <> 'succeeded'") == 0 || count("state = 'failed'") > 0 }
        return try count("state <> 'succeeded'") == 0
    }

    static func outcomes(_ provider: ProviderFarm, id: Int64) throws -> [String: String] {
        try Dictionary(uniqueKeysWithValues: provider.farm.store.connection.execute("""
            SELECT j.job_key, a.outcome FROM keyfarm.jobs j JOIN keyfarm.attempts a ON a.job_id = j.id AND a.attempt = j.attempts
            WHERE j.shot_list_id = $1
            """, [id]).rows.map { (try $0.decode("job_key", as: String.self), try $0.decode("outcome", as: String.self)) })
    }

    @Test func anEditedPromptRerendersOnlyItsSpanAndWhatContinuesFromIt() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            try provider.submit(Self.list("it stops by the crate"), name: "rev")
            try provider.startCoordinator()
            try provider.startWorker("reviser", slots: 4, engines: "luma/*,stitch")
            let first = try provider.farm.count("SELECT id::int AS n FROM keyfarm.shot_lists WHERE name = 'rev'")
            #expect(try Self.waitForList(provider, id: Int64(first)), "\(provider.logs)")
            #expect(try provider.creates().count == 4)
            #expect(try provider.ledgerNet("rev") == 4 * 40)

            // What the edit will cost, before anything is spent.
            let edited = Self.list("it bounces off the crate")
            let editedPath = provider.directory + "/edited.yaml"
            try edited.write(toFile: editedPath, atomically: true, encoding: .utf8)
            let preview = try provider.keyfarm(["plan", editedPath, "--against", "rev"])
            #expect(preview.contains("2 of 6 jobs changed or new; 4 would reuse an earlier generation (saving 120 credits); the rest is estimated at 40 credits"),
                    "plan --against: \(preview)")

            // The third keyframe's prompt belongs to s2 only: s0, s1 and all of sh020 are reused.
            let receipt = try Self.resubmit(provider, edited, file: "edited.yaml")
            let second = try #require((receipt["id"] as? NSNumber)?.int64Value)
            let reused = (receipt["reused_jobs"] as? [[String: Any]] ?? []).compactMap { $0["job_key"] as? String }
            #expect(Set(reused) == ["sh010/s0", "sh010/s1", "sh020/s0", "sh020/stitch"], "receipt: \(receipt)")
            #expect((receipt["estimated_credits"] as? NSNumber)?.intValue == 40)
            #expect((receipt["revision"] as? NSNumber)?.intValue == 2)
            #expect(try Self.waitForList(provider, id: second), "\(provider.logs)")
            // One more generation, billed once by the fake and charged once in the ledger.
            #expect(try provider.creates().count == 5)
            #expect(try provider.billed()["luma"] == 5)
            #expect(try provider.ledgerNet("rev") == 5 * 40)
            let outcomes = try Self.outcomes(provider, id: second)
            #expect(outcomes == ["sh010/s0": "reused", "sh010/s1": "reused", "sh010/s2": "succeeded",
                                 "sh010/stitch": "succeeded", "sh020/s0": "reused", "sh020/stitch": "reused"])
            // The restitched shot took the new s2 and the old s0 and s1, all of them intact.
            let manifest = try provider.farm.store.connection.execute("""
                SELECT path, sha256 FROM keyfarm.v_outputs WHERE shot_list_id = $1 AND shot = 'sh010' AND format = 'manifest'
                """, [second]).rows
            #expect(manifest.count == 1)
            let history = try provider.keyfarm(["history", "rev", "--project", "revisions", "--json"])
            #expect(history.contains("\"jobs_reused\" : 4"), "history: \(history)")

            // Review: approve one shot, reject the other with a note; errors change nothing.
            #expect(try provider.keyfarm(["approve", "rev", "sh010", "--project", "revisions"]).contains("rev sh010: approved (was pending)"))
            #expect(try provider.keyfarm(["reject", "rev", "sh020", "--note", "the crate is too dark", "--project", "revisions"])
                        .contains("rev sh020: rejected (was pending)"))
            for (arguments, status) in [(["reject", "rev", "sh020", "--project", "revisions"], Int32(64)),
                                        (["approve", "rev", "sh999", "--project", "revisions"], Int32(66))] {
                let outcome = try ChildProcess(executable: provider.farm.binary, arguments: arguments,
                                               environment: provider.environment).run()
                #expect(outcome.status == status, "\(arguments): \(outcome.output)")
            }
            let status = try provider.keyfarm(["status", "rev", "--project", "revisions", "--json"])
            #expect(status.contains("\"review_state\" : \"approved\"") && status.contains("\"review_note\" : \"the crate is too dark\""),
                    "status: \(status)")

            // The second revision's s2 clip goes missing: an identical resubmission plans to reuse
            // everything, finds the clip gone, and renders s2 again (and restitches sh010). The
            // provider has meanwhile forgotten every generation (it keeps them only for a while):
            // s2 asks to continue s1 by its id, is refused, and asks again with s1's last frame.
            let s2 = try provider.farm.store.connection.execute("""
                SELECT artifacts->0->>'path' AS path FROM keyfarm.jobs WHERE shot_list_id = $1 AND job_key = 'sh010/s2'
                """, [second]).rows[0].decode("path", as: String.self)
            try FileManager.default.removeItem(atPath: provider.storage + "/" + s2)
            _ = try provider.fakeJSON("/_fake/reset", method: "POST")
            let again = try Self.resubmit(provider, edited, file: "edited.yaml")
            let third = try #require((again["id"] as? NSNumber)?.int64Value)
            #expect((again["reused_jobs"] as? [Any])?.count == 6)
            #expect((again["estimated_credits"] as? NSNumber)?.intValue == 0)
            #expect(try Self.waitForList(provider, id: third), "\(provider.logs)")
            // Since the reset: the refused create (400, nothing made) and the one that rendered.
            #expect(try provider.creates().count == 1)
            #expect(try provider.billed()["luma"] == 1)
            #expect(try provider.ledgerNet("rev") == 6 * 40)
            #expect(provider.logs.contains("the provider refused a continuation by generation id"), "\(provider.logs)")
            let thirdOutcomes = try Self.outcomes(provider, id: third)
            #expect(thirdOutcomes["sh010/s2"] == "succeeded" && thirdOutcomes["sh010/stitch"] == "succeeded"
                    && thirdOutcomes["sh010/s0"] == "reused" && thirdOutcomes["sh020/stitch"] == "reused",
                    "outcomes: \(thirdOutcomes)")
            // The same requests deliver the same shots: their reviews carry over.
            let reviews = try provider.farm.store.connection.execute("""
                SELECT review_state FROM keyfarm.v_shot_progress WHERE shot_list_id = $1 ORDER BY position
                """, [third]).rows.map { try $0.decode("review_state", as: String.self) }
            #expect(reviews == ["approved", "rejected"])
            let handedBack = try provider.farm.count("""
                SELECT count(*)::int AS n FROM keyfarm.v_attempts WHERE shot_list_id = $1 AND outcome = 'handed_back'
                  AND error LIKE 'reuse: %no longer in storage%'
                """.replacingOccurrences(of: "shot_list_id = $1", with: "job_id IN (SELECT id FROM keyfarm.jobs WHERE shot_list_id = $1)"),
                [third])
            #expect(handedBack == 1)
        }
    }

    /// SHA-256 of each EXR frame of a stitched shot, in frame order.
    static func exrFrames(_ provider: ProviderFarm, _ directory: String, count: Int) throws -> [String] {
        try (0..<count).map { index in
            let path = provider.storage + "/" + directory + String(format: "/exr/sh010.%04d.exr", index)
            let outcome = try ChildProcess(executable: "/usr/bin/sha256sum", arguments: [path], environment: [:]).run()
            return outcome.output.split(separator: " ").first.map(String.init) ?? "missing \(path)"
        }
    }

    @Test func aRetakeSelectedChangesExactlyThatSegmentsFrames() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            let yaml = """
                version: 1
                name: takes
                project: takes
                defaults: { engine: luma/ray-2, fps: 24, resolution: 540p, outputs: [exr] }
                shots:
                  - id: sh010
                    duration: 4
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_a.png"))", prompt: "the ball rolls" }
                      - { at: 2, image: "\(Refs.path("sh010_b.png"))", prompt: "it slows" }
                      - { at: 4, image: "\(Refs.path("sh010_c.png"))" }
                """
            try provider.submit(yaml, name: "takes")
            try provider.startCoordinator()
            try provider.startWorker("taker", slots: 3, engines: "luma/*,stitch")
            let id = Int64(try provider.farm.count("SELECT id::int AS n FROM keyfarm.shot_lists WHERE name = 'takes'"))
            #expect(try Self.waitForList(provider, id: id), "\(provider.logs)")
            let before = try Self.exrFrames(provider, "takes/takes/sh010", count: 96)

            let retake = try provider.keyfarm(["retake", "takes", "sh010/s1", "--prompt", "it slows, then spins", "--project", "takes"])
            #expect(retake.contains("queued take 2 of sh010/s1 as job sh010/s1t2"), "\(retake)")
            #expect(try Self.waitForList(provider, id: id), "\(provider.logs)")
            let listed = try provider.keyfarm(["takes", "takes", "sh010", "--project", "takes", "--json"])
            let takes = try #require((try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any])?["takes"] as? [[String: Any]])
            #expect(takes.map { "\($0["job_key"]!) \($0["selected"]!)" } == ["sh010/s0 1", "sh010/s1 1", "sh010/s1t2 0"], "\(listed)")
            #expect(takes[2]["prompt"] as? String == "it slows, then spins" && takes[2]["spent_credits"] as? Int == 40)
            // Until it is selected, the stitched shot is what it was.
            #expect(try Self.exrFrames(provider, "takes/takes/sh010", count: 96) == before)

            let selected = try provider.keyfarm(["select", "takes", "sh010/s1", "2", "--project", "takes"])
            #expect(selected.contains("selected take 2 of sh010/s1 (sh010/s1t2)") && selected.contains("restitching sh010/stitch"),
                    "\(selected)")
            let restitched = try eventually(timeout: .seconds(120)) {
                try provider.farm.count("""
                    SELECT count(*)::int AS n FROM keyfarm.jobs WHERE shot_list_id = $1 AND job_key = 'sh010/stitch'
                      AND state = 'succeeded' AND attempts = 2
                    """, [id]) == 1
            }
            #expect(restitched, "\(provider.logs)")
            let after = try Self.exrFrames(provider, "takes/takes/sh010", count: 96)
            // s1 covers frames 48 to 95 (it keeps the boundary frame it shares with s0): only
            // those can change, and between its keyframes they do.
            #expect(Array(after[0..<48]) == Array(before[0..<48]))
            let changed = (48..<96).filter { after[$0] != before[$0] }
            #expect(changed.count >= 24, "changed frames: \(changed)")
            // The manifest names the take of every frame.
            let manifestPath = provider.storage + "/takes/takes/sh010/manifest.json"
            let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any])
            let frames = try #require(manifest["frame_sources"] as? [[String: Any]])
            let takeOf = frames.map { (($0["sources"] as? [[String: Any]])?.first?["take"] as? Int) ?? 0 }
            #expect(Array(takeOf[0..<48]) == Array(repeating: 1, count: 48))
            #expect(Array(takeOf[48..<96]) == Array(repeating: 2, count: 48))
            // Three generations billed, three charged; nothing else rendered.
            #expect(try provider.creates().count == 3)
            #expect(try provider.ledgerNet("takes") == 3 * 40)
            // Take 1 of s1 is no longer used: prune deletes its files (a dry run first), keeps its rows.
            let clip = try provider.farm.store.connection.execute("""
                SELECT artifacts->0->>'path' AS path FROM keyfarm.jobs WHERE shot_list_id = $1 AND job_key = 'sh010/s1'
                """, [id]).rows[0].decode("path", as: String.self)
            let dry = try provider.keyfarm(["prune", "takes", "--project", "takes", "--dry-run", "--storage", provider.storage])
            #expect(dry.contains("would prune sh010/s1 (rev 1, take 1, unselected take): 3 file(s)"), "\(dry)")
            #expect(FileManager.default.fileExists(atPath: provider.storage + "/" + clip))
            let pruned = try provider.keyfarm(["prune", "takes", "--project", "takes", "--storage", provider.storage])
            #expect(pruned.contains("deleted 3 file(s)"), "\(pruned)")
            #expect(!FileManager.default.fileExists(atPath: provider.storage + "/" + clip))
            #expect(try provider.keyfarm(["takes", "takes", "--project", "takes"]).contains("succeeded (pruned)"))
            let back = try ChildProcess(executable: provider.farm.binary, arguments: ["select", "takes", "sh010/s1", "1", "--project", "takes"],
                                        environment: provider.environment).run()
            #expect(back.status == 1 && back.output.contains("was pruned"), "\(back.output)")
            #expect(try provider.keyfarm(["prune", "takes", "--project", "takes", "--storage", provider.storage]).contains("nothing to prune"))
        }
    }

    /// The picture size of a video, as ffprobe reads it (`640x360`).
    static func size(_ path: String) throws -> String {
        let probe = try ChildProcess(executable: "ffprobe", arguments: [
            "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0:s=x", path,
        ], environment: ProcessInfo.processInfo.environment).run()
        return probe.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func aDraftRendersAt360pAndPromoteRendersOnlyTheApprovedShot() async throws {
        try await offPool {
            let provider = try ProviderFarm()
            let yaml = """
                version: 1
                name: drafts
                project: drafts
                defaults: { fps: 24, resolution: 720p, outputs: [mp4], draft: true }
                shots:
                  - id: sh010
                    duration: 5
                    engine: luma/ray-3.2
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_a.png"))", prompt: "the ball rolls" }
                      - { at: 5, image: "\(Refs.path("sh010_b.png"))" }
                  - id: sh020
                    duration: 3
                    engine: luma/ray-2
                    keyframes:
                      - { at: 0, image: "\(Refs.path("sh010_c.png"))", prompt: "the crate" }
                      - { at: 3, image: "\(Refs.path("sh010_a.png"))" }
                """
            try provider.submit(yaml, name: "drafts")
            try provider.startCoordinator()
            try provider.startWorker("drafter", slots: 3, engines: "luma/*,stitch")
            let first = Int64(try provider.farm.count("SELECT id::int AS n FROM keyfarm.shot_lists WHERE name = 'drafts'"))
            #expect(try Self.waitForList(provider, id: first), "\(provider.logs)")
            // ray-3.2's draft tier is 360p; ray-2's lowest is 540p; the drafts are 360p MP4s.
            let clips = try Dictionary(uniqueKeysWithValues: provider.farm.store.connection.execute("""
                SELECT job_key, artifacts->0->>'path' AS path FROM keyfarm.jobs WHERE shot_list_id = $1 AND kind = 'segment'
                """, [first]).rows.map { (try $0.decode("job_key", as: String.self), try $0.decode("path", as: String.self)) })
            #expect(try Self.size(provider.storage + "/" + clips["sh010/s0"]!) == "640x360")
            #expect(try Self.size(provider.storage + "/" + clips["sh020/s0"]!) == "960x540")
            #expect(try Self.size(provider.storage + "/drafts/drafts/sh010/draft/sh010.mp4") == "640x360")
            #expect(try Self.size(provider.storage + "/drafts/drafts/sh020/draft/sh020.mp4") == "640x360")
            #expect(try provider.creates().count == 2)

            // Only the approved shot is promoted; the other stays a draft, reused.
            _ = try provider.keyfarm(["approve", "drafts", "sh010", "--project", "drafts"])
            let refused = try ChildProcess(executable: provider.farm.binary, arguments: ["promote", "drafts", "sh020", "--project", "drafts"],
                                           environment: provider.environment).run()
            #expect(refused.status == 1 && refused.output.contains("sh020 is pending, not approved"), "\(refused.output)")
            let promoted = try provider.keyfarm(["promote", "drafts", "--project", "drafts", "--json"])
            let receipt = try #require(try JSONSerialization.jsonObject(with: Data(promoted.utf8)) as? [String: Any])
            #expect(receipt["promoted"] as? [String] == ["sh010"] && receipt["revision"] as? Int == 2, "\(promoted)")
            #expect(receipt["reused_jobs"] as? Int == 2 && receipt["estimated_credits"] as? Int == 30, "\(promoted)")
            let second = try #require((receipt["id"] as? NSNumber)?.int64Value)
            #expect(try Self.waitForList(provider, id: second), "\(provider.logs)")
            #expect(try provider.creates().count == 3)
            #expect(try Self.size(provider.storage + "/drafts/drafts/sh010/sh010.mp4") == "1280x720")
            // Draft and final spend apart; the final beside its draft.
            let credits = try provider.keyfarm(["credits", "--by", "tier", "--json"])
            let rows = try #require((try JSONSerialization.jsonObject(with: Data(credits.utf8)) as? [String: Any])?["rows"] as? [[String: Any]])
            let net = Dictionary(uniqueKeysWithValues: rows.map { ($0["key"] as? String ?? "?", $0["net"] as? Int ?? -1) })
            #expect(net["draft"] == 8 + 40 && net["final"] == 30, "\(credits)")
            let status = try provider.keyfarm(["status", "drafts", "--project", "drafts"])
            #expect(status.contains("draft mp4 (rev 1): \(provider.storage)/drafts/drafts/sh010/draft/sh010.mp4"), "\(status)")
            #expect(status.contains("shot sh020: succeeded") && status.contains("a draft"), "\(status)")
        }
    }
}
