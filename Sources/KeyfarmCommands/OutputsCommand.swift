import ArgumentParser
import Foundation
import KeyfarmStore
import KeyfarmWorker

/// `keyfarm outputs NAME`: the deliverables of a shot list's stitched shots.
struct OutputsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outputs",
        abstract: "List the finished clips of a shot list: each stitched shot's deliverables with paths and frame counts.",
        discussion: """
            A shot's deliverables appear once its stitch job succeeded: <shot>.mp4 (H.264, Rec.709), \
            <shot>.mov (ProRes 422 HQ), exr/<shot>.%04d.exr (half-float linear EXR sequence) and \
            manifest.json (every frame's segment, attempt, engine, provider request and source \
            checksum), as the shot list asked, under <storage>/<project>/<shot list>/<shot>/. \
            Shots not stitched yet are listed with their state.

            Paths are where the worker that stitched the shot wrote them (its storage root, as it \
            reported it). --storage maps them onto your own mount of the shared storage instead; \
            outputs stitched before workers reported their root are shown under $KEYFARM_STORAGE, \
            else the default a worker on this machine uses. --json gives the absolute path, the \
            relative path and the worker's storage root.
            """)

    @Argument(help: ArgumentHelp("A shot list's name.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("The project, when the name is used in several.", valueName: "project"))
    var project: String?

    @OptionGroup var storage: StorageOption

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func run() throws {
        try reportingFailures {
            let store = try database.openStore(logger: try common.logger())
            let detail = try store.shotListDetail(name: name, project: project)
            if json {
                try printJSON(Document(detail, storage: storage))
            } else {
                Console.current.write(Self.render(detail, storage: storage))
            }
        }
    }

    static func render(_ detail: ShotListDetail, storage: StorageOption) -> String {
        let list = detail.list
        let stitched = Set(detail.outputs.map(\.shot))
        let text = "shot list \(list.name) (project \(list.project)): \(list.state), "
            + "\(stitched.count) of \(detail.shots.count) shot(s) stitched, credits spent \(list.spentCredits)\n"
        var table = TextTable(["SHOT", "FORMAT", "FRAMES", "SIZE", "PATH"], rightAligned: [2, 3])
        for shot in detail.shots {
            let outputs = detail.outputs.filter { $0.shot == shot.key }
            if outputs.isEmpty {
                table.add([shot.key, "-", "\(shot.frames)", "-", "not stitched yet (\(shot.state), \(StatusCommand.percent(shot.progress)))"])
            }
            for output in outputs {
                table.add([shot.key, output.format, "\(output.frames)", byteSize(output.bytes), storage.fullPath(output)])
            }
        }
        return text + table.render() + "\n"
    }

    /// `1.4 MB`, `812 kB`, `96 B`.
    static func byteSize(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes), unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: value < 10 ? "%.1f %@" : "%.0f %@", value, units[unit])
    }

    /// The JSON shape of `keyfarm outputs --json`.
    struct Document: Encodable {
        var shot_list: String
        var project: String
        var state: String
        var storage: String
        var spent_credits: Int64
        var shots: [Shot]

        struct Shot: Encodable {
            var id: String
            var state: String
            var frames: Int
            var outputs: [Output]
        }

        struct Output: Encodable {
            var format: String
            var path: String
            var relative_path: String
            var frames: Int
            var bytes: Int64
            var sha256: String
            var stitched_at: Date?
            /// The storage root of the worker that wrote it, as it reported it (null before workers did).
            var storage_root: String?

            /// A deliverable with its full path.
            init(_ output: ShotOutput, storage: StorageOption) {
                format = output.format
                path = storage.fullPath(output)
                storage_root = output.storageRoot
                relative_path = output.path
                frames = output.frames
                bytes = output.bytes
                sha256 = output.sha256
                stitched_at = output.stitchedAt
            }
        }

        init(_ detail: ShotListDetail, storage: StorageOption) {
            shot_list = detail.list.name
            project = detail.list.project
            state = detail.list.state
            self.storage = storage.mount ?? storage.root
            spent_credits = detail.list.spentCredits
            shots = detail.shots.map { shot in
                Shot(id: shot.key, state: shot.state, frames: shot.frames,
                     outputs: detail.outputs.filter { $0.shot == shot.key }.map { Output($0, storage: storage) })
            }
        }
    }
}

/// `--storage`: the farm's shared storage root, for commands that show where files are.
struct StorageOption: ParsableArguments {
    @Option(name: .customLong("storage"), help: ArgumentHelp(
        "The farm's shared storage root (default: $KEYFARM_STORAGE, else the default a worker on this machine uses).",
        valueName: "dir"))
    var directory: String?

    var root: String {
        let path = directory ?? WorkerConfiguration.defaultStorage(environment: CommandEnvironment.current)
        return path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// Paths under `directory`, as if given with --storage.
    static func at(_ directory: String) -> StorageOption {
        var option = StorageOption()
        option.directory = directory
        return option
    }

    /// The operator's own mount of the shared storage, when given with --storage.
    var mount: String? { directory == nil ? nil : root }

    /// Where an output is: under --storage when given, else under the storage root of the
    /// worker that wrote it, else under `root`.
    func fullPath(_ output: ShotOutput) -> String { output.fullPath(mount: mount, fallback: root) }
}
