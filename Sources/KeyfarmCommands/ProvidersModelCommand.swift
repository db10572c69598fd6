import ArgumentParser
import Foundation
import KeyfarmCore
import KeyfarmStore

/// `keyfarm providers model`: how fal and WaveSpeed models name their inputs.
struct ProvidersModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Show or map how a fal or WaveSpeed model names its inputs.",
        discussion: """
            Each fal and WaveSpeed model names its start image, end image, duration, resolution and \\
            aspect ratio its own way (fal's Kling 2.5 takes tail_image_url, Kling 2.6 end_image_url). \\
            Keyfarm knows some models; map any other with `set`. A segment that ends on a keyframe \\
            image needs its model's end-frame field: plan and submit refuse it otherwise. `submit` \\
            puts each model's mapping into its jobs, so a change applies to shot lists submitted \\
            after it.
            """,
        subcommands: [List.self, Set.self, Remove.self],
        defaultSubcommand: List.self)

    /// The engine an argument names, when it is a fal or WaveSpeed model.
    static func engine(_ text: String) throws -> Engine {
        guard let engine = Engine(name: text), ModelInputTable.applies(to: engine) else {
            throw CommandFailure("engine: \(text.debugDescription) is not a fal or WaveSpeed model; write fal/<model id> or wavespeed/<model id>, e.g. fal/fal-ai/kling-video/v2.6/pro/image-to-video",
                                 status: ExitStatus.invalidData)
        }
        return engine
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the model mappings: the operator's, then the built-in ones.")
        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        struct Entry: Encodable {
            var engine: String
            var source: String
            var inputs: ModelInputs
            var updatedAt: Date?

            enum CodingKeys: String, CodingKey { case engine, source, updated_at }

            func encode(to encoder: any Encoder) throws {
                try inputs.encode(to: encoder)
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(engine, forKey: .engine)
                try c.encode(source, forKey: .source)
                try c.encode(updatedAt, forKey: .updated_at)  // null for a built-in mapping
            }
        }

        func run() throws {
            try reportingFailures {
                let store = try database.openStore(logger: try common.logger())
                let stored = try store.storedModelInputs()
                let overridden = Swift.Set(stored.map(\.engine))
                let entries = stored.map { Entry(engine: $0.engine, source: "operator", inputs: $0.inputs, updatedAt: $0.updatedAt) }
                    + ModelInputTable.known.keys.sorted().filter { !overridden.contains($0) }.map {
                        Entry(engine: $0, source: "built-in", inputs: ModelInputTable.known[$0]!, updatedAt: nil)
                    }
                if json {
                    try printJSON(entries)
                    return
                }
                var table = TextTable(["ENGINE", "SOURCE", "START", "END", "DURATION", "RESOLUTION", "ASPECT"])
                for entry in entries {
                    let inputs = entry.inputs
                    let resolution = inputs.resolutionField == .none ? "-"
                        : inputs.resolutionField.rawValue + " " + (inputs.resolutions.isEmpty ? "any" : inputs.resolutions.joined(separator: ","))
                    table.add([entry.engine, entry.source, inputs.startField ?? "none", inputs.endField ?? "none",
                               inputs.duration.rawValue, resolution, inputs.aspectField ?? "-"])
                }
                Console.current.write(table.render() + "\n")
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Map a model's input fields (replacing an earlier mapping, or overriding a built-in one).",
            discussion: """
                Example: keyfarm providers model set fal/fal-ai/kling-video/v2.6/pro/image-to-video \\
                --start-field start_image_url --end-field end_image_url --duration string
                """)
        @Argument(help: ArgumentHelp("The engine: fal/<model id> or wavespeed/<model id>.", valueName: "engine"))
        var engine: String
        @Option(name: .customLong("start-field"), help: ArgumentHelp(
            "The field of the start image, or `none` for a text-to-video model (default: image_url on fal, image on WaveSpeed).",
            valueName: "field|none"))
        var startField: String?
        @Option(name: .customLong("end-field"), help: ArgumentHelp(
            "The field of the end image, or `none` when the model cannot be given an end frame.", valueName: "field|none"))
        var endField: String
        @Option(help: ArgumentHelp("How the model writes a clip length: int (5), string (\"5\") or luma (\"5s\").",
                                   valueName: "int|string|luma"))
        var duration: String
        @Option(name: .customLong("resolution-field"), help: ArgumentHelp(
            "How the model is told the picture size: resolution (720p), size (1280*720) or none.",
            valueName: "resolution|size|none"))
        var resolutionField = "none"
        @Option(help: ArgumentHelp("""
            The values the resolution or size field accepts, comma-separated (480p,720p,1080p or 1280*720,720*1280); \\
            a shot's resolution is raised to the nearest listed one. Default: any resolution (on WaveSpeed 480p,720p,1080p).
            """, valueName: "list"))
        var resolutions: String?
        @Option(name: .customLong("aspect-field"), help: ArgumentHelp(
            "The field of the aspect ratio (aspect_ratio), or `none` when the model follows its input image (default).",
            valueName: "field|none"))
        var aspectField = "none"
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        /// A field option's value: a field name, or nil for `none`.
        static func field(_ text: String, flag: String) throws -> String? {
            if text == "none" { return nil }
            guard ModelInputs.isFieldName(text) else {
                throw CommandFailure("\(flag): \(text.debugDescription) is not a field name (a letter, then letters, digits and _, at most 64) or `none`",
                                     status: ExitStatus.invalidData)
            }
            return text
        }

        /// The mapping the options describe, or a failure naming the option that is wrong.
        func inputs(for engine: Engine) throws -> ModelInputs {
            guard let format = ModelInputs.DurationFormat(rawValue: duration) else {
                throw CommandFailure("--duration: \(duration.debugDescription) is not one of int, string, luma", status: ExitStatus.invalidData)
            }
            guard let field = ModelInputs.ResolutionField(rawValue: resolutionField) else {
                throw CommandFailure("--resolution-field: \(resolutionField.debugDescription) is not one of resolution, size, none",
                                     status: ExitStatus.invalidData)
            }
            var values = ModelInputTable.defaultResolutions(provider: engine.provider, field: field)
            if let resolutions {
                guard field != .none else {
                    throw CommandFailure("--resolutions needs --resolution-field resolution or size", status: ExitStatus.usage)
                }
                values = resolutions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                if let bad = values.first(where: { !ModelInputs.isResolutionValue($0, field: field) }) ?? (values.isEmpty ? "" : nil) {
                    let example = field == .size ? "1280*720" : "720p"
                    throw CommandFailure("--resolutions: \(bad.debugDescription) is not a \(field.rawValue) value such as \(example)",
                                         status: ExitStatus.invalidData)
                }
            }
            let fallback = ModelInputTable.fallback(for: engine)?.startField
            return ModelInputs(startField: try startField.map { try Self.field($0, flag: "--start-field") } ?? fallback,
                               endField: try Self.field(endField, flag: "--end-field"), duration: format,
                               resolutionField: field, resolutions: values,
                               aspectField: try Self.field(aspectField, flag: "--aspect-field"))
        }

        func run() throws {
            try reportingFailures {
                let engine = try ProvidersModelCommand.engine(self.engine)
                let inputs = try inputs(for: engine)
                let store = try database.openStore(logger: try common.logger())
                try store.setModelInputs(engine: engine.name, inputs)
                Console.current.print("\(engine): \(inputs.summary); applies to shot lists submitted from now on")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove", abstract: "Remove an operator's mapping (a built-in one, if any, applies again).")
        @Argument(help: ArgumentHelp("The engine: fal/<model id> or wavespeed/<model id>.", valueName: "engine"))
        var engine: String
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        func run() throws {
            try reportingFailures {
                let engine = try ProvidersModelCommand.engine(self.engine)
                let store = try database.openStore(logger: try common.logger())
                guard try store.removeModelInputs(engine: engine.name) else {
                    let builtIn = ModelInputTable.known[engine.name] != nil ? " (its built-in mapping cannot be removed; `set` overrides it)" : ""
                    throw CommandFailure("\(engine): no operator mapping to remove\(builtIn)", status: ExitStatus.noInput)
                }
                let now = ModelInputTable.known[engine.name].map { "the built-in mapping applies again: \($0.summary)" }
                    ?? "the model is unknown again: its segments cannot end on an image"
                Console.current.print("\(engine): mapping removed; \(now)")
            }
        }
    }
}
