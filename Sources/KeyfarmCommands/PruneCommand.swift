import ArgumentParser
import Foundation
import KeyfarmStore

/// `keyfarm prune LIST`: deletes the files of takes no stitch uses (and of replaced revisions).
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete the files of a shot list's takes that no stitch uses (and, with --replaced, of its replaced revisions).",
        discussion: """
            Takes stay on disk and in the database until pruned, so that `keyfarm select` can go back \
            to one. Prune deletes, from the farm's storage, the files of the live revision's finished \
            takes that its stitches do not use, and with --replaced every file of the list's replaced \
            revisions. A file that a job which stays also names (a generation reused by a later \
            revision, a deliverable rewritten in place) is kept. The jobs' rows, attempts and ledger \
            entries stay; a pruned job is never reused again, and its take can no longer be selected \
            without rendering. Run it where the storage is mounted (--storage, else the root each \
            worker reported). --dry-run lists what would go.
            """)

    @Argument(help: ArgumentHelp("The shot list's name.", valueName: "list"))
    var list: String
    @Flag(help: "Also prune every revision this list replaced.")
    var replaced = false
    @Flag(help: "List what would be deleted; delete nothing.")
    var dryRun = false
    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?
    @Flag(help: "Print what was pruned as JSON.")
    var json = false
    @OptionGroup var storage: StorageOption
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    struct Document: Encodable {
        struct Job: Encodable {
            var job_id: Int64
            var job_key: String
            var revision: Int
            var take: Int
            var reason: String
            var files: [String]
        }
        var shot_list: String
        var dry_run: Bool
        var jobs: [Job]
        var files: Int
        var bytes: Int64
        var missing: Int
    }

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let resolved = try store.resolveShotList(name: list, project: project)
            let candidates = try store.pruneCandidates(shotListID: resolved.id, replacedRevisions: replaced)
            var deleted = 0, missing = 0
            var bytes: Int64 = 0
            var jobs: [Document.Job] = []
            for candidate in candidates {
                var paths: [String] = []
                for file in candidate.files {
                    let root = storage.mount ?? file.storageRoot ?? storage.root
                    let full = root + "/" + file.path
                    // An EXR sequence is named by its pattern: each frame is a file.
                    let members = full.contains("%04d")
                        ? (0..<max(file.frames, 0)).map { full.replacingOccurrences(of: "%04d", with: String(format: "%04d", $0)) }
                        : [full]
                    for member in members {
                        paths.append(member)
                        guard FileManager.default.fileExists(atPath: member) else { missing += 1; continue }
                        if !dryRun {
                            do {
                                try FileManager.default.removeItem(atPath: member)
                            } catch {
                                throw CommandFailure("\(member): cannot delete (\(error.localizedDescription)); what was deleted before it is marked pruned",
                                                     status: ExitStatus.failure)
                            }
                            Self.removeEmptyFolders(above: member, stoppingAt: root)
                        }
                        deleted += 1
                    }
                    bytes += file.bytes
                }
                jobs.append(.init(job_id: candidate.jobID, job_key: candidate.jobKey, revision: candidate.revision,
                                  take: candidate.take, reason: candidate.reason, files: paths))
                if !dryRun { try store.markPruned(jobIDs: [candidate.jobID]) }
            }
            if json {
                try printJSON(Document(shot_list: list, dry_run: dryRun, jobs: jobs, files: deleted, bytes: bytes, missing: missing))
                return
            }
            guard !jobs.isEmpty else {
                Console.current.print("\(list): nothing to prune" + (replaced ? "" : " (--replaced also prunes replaced revisions)"))
                return
            }
            for job in jobs {
                Console.current.print("\(dryRun ? "would prune" : "pruned") \(job.job_key) (rev \(job.revision), take \(job.take), \(job.reason)): \(job.files.count) file(s)")
            }
            Console.current.print("\(dryRun ? "would delete" : "deleted") \(deleted) file(s), \(OutputsCommand.byteSize(bytes))"
                                  + (missing > 0 ? "; \(missing) already gone" : ""))
        }
    }

    /// Removes the folders a deleted file leaves empty, up to (not including) the storage root.
    static func removeEmptyFolders(above file: String, stoppingAt root: String) {
        var folder = (file as NSString).deletingLastPathComponent
        while folder.count > root.count, folder.hasPrefix(root + "/"),
              let contents = try? FileManager.default.contentsOfDirectory(atPath: folder), contents.isEmpty {
            try? FileManager.default.removeItem(atPath: folder)
            folder = (folder as NSString).deletingLastPathComponent
        }
    }
}
