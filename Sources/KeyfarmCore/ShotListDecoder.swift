import Foundation
import Yams

/// Turns the text of a shot list (YAML, or JSON which is YAML) into a validated `ShotList`,
/// reporting every problem at once. It reads no files: image checks go through `inspector`.
public struct ShotListDecoder: Sendable {
    /// The file name used in messages, as the user gave it.
    public var file: String
    /// The folder relative image paths are resolved against (the shot list's own folder).
    public var directory: String
    public var inspector: any ImageInspecting

    public init(file: String, directory: String, inspector: any ImageInspecting) {
        self.file = file
        self.directory = directory
        self.inspector = inspector
    }

    static let topKeys = ["version", "name", "project", "budget", "defaults", "shots"]
    static let settingKeys = ["fps", "resolution", "aspect", "engine", "outputs", "seam", "priority", "max_attempts",
                              "hdr", "exr_colorspace", "reframe", "reframe_position", "reframe_engine", "reuse", "draft"]
    static let shotKeys = ["id", "duration", "keyframes", "segments"] + settingKeys
    static let keyframeKeys = ["at", "image", "prompt"]
    static let overrideKeys = ["engine", "prompt", "priority", "max_attempts"]
    static let maximumShots = 1000
    static let maximumPromptLength = 5000

    public func decode(_ text: String) throws(ShotListInvalid) -> ShotList {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ShotListInvalid(issues: [issue("", "the file is empty; a shot list needs at least version, name and shots")])
            }
            root = node
        } catch let error as ShotListInvalid {
            throw error
        } catch {
            throw ShotListInvalid(issues: [syntaxIssue(error)])
        }

        var reader = FieldReader(file: file)
        guard let fields = reader.mapping(root, "", allowed: Self.topKeys, what: "a shot list") else {
            throw ShotListInvalid(issues: reader.issues)
        }

        if let node = fields["version"]?.value {
            if let version = reader.integer(node, "version", range: 1...Int.max), version != 1 {
                reader.report("version", "\(version) is not supported; this Keyfarm reads version 1", at: node)
            }
        } else {
            reader.report("version", "missing; write `version: 1`", at: root)
        }

        var name = ""
        if let node = fields["name"]?.value {
            if let value = reader.string(node, "name") {
                if Self.isListName(value) { name = value } else {
                    reader.report("name", "\"\(value)\" is not a valid name; allowed: [a-z0-9][a-z0-9._-]{0,63}", at: node)
                }
            }
        } else {
            reader.report("name", "missing; every shot list needs a name ([a-z0-9][a-z0-9._-]{0,63})", at: root)
        }

        var project = "default"
        if let node = fields["project"]?.value, let value = reader.string(node, "project") {
            if Self.isListName(value) { project = value } else {
                reader.report("project", "\"\(value)\" is not a valid project name; allowed: [a-z0-9][a-z0-9._-]{0,63}", at: node)
            }
        }

        var budget: Int?
        if let node = fields["budget"]?.value {
            budget = reader.integer(node, "budget", range: 0...1_000_000_000, unit: "credits")
        }

        var defaults = ShotSettings.builtIn
        if let node = fields["defaults"]?.value,
           let defaultFields = reader.mapping(node, "defaults", allowed: Self.settingKeys, what: "defaults") {
            defaults = readSettings(defaultFields, path: "defaults", inheriting: .builtIn, reader: &reader)
        }

        var shots: [Shot] = []
        if let node = fields["shots"]?.value {
            if let list = reader.sequence(node, "shots", what: "shots") {
                if list.isEmpty { reader.report("shots", "the list is empty; a shot list needs at least one shot", at: node) }
                if list.count > Self.maximumShots {
                    reader.report("shots", "\(list.count) shots, at most \(Self.maximumShots) in one list", at: node)
                }
                var seenIDs: [String: Int] = [:]
                for (index, shotNode) in list.prefix(Self.maximumShots).enumerated() {
                    if let shot = readShot(shotNode, index: index, defaults: defaults,
                                           seenIDs: &seenIDs, reader: &reader) {
                        shots.append(shot)
                    }
                }
            }
        } else {
            reader.report("shots", "missing; a shot list needs at least one shot", at: root)
        }

        guard reader.issues.isEmpty else { throw ShotListInvalid(issues: reader.issues) }
        return ShotList(version: 1, name: name, project: project, budget: budget, shots: shots, sourcePath: file)
    }

    /// Whether `value` is a valid shot list or project name: [a-z0-9][a-z0-9._-]{0,63}.
    public static func isListName(_ value: String) -> Bool {
        guard let first = value.first, value.count <= 64, first.isASCII, first.isLowercase || first.isNumber else { return false }
        return value.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "._-".contains($0)) }
    }

    static func isShotID(_ value: String) -> Bool {
        guard let first = value.first, value.count <= 32, first.isASCII, first.isLetter || first.isNumber else { return false }
        return value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-".contains($0)) }
    }

    func issue(_ path: String, _ message: String, line: Int? = nil, column: Int? = nil) -> ShotListIssue {
        ShotListIssue(file: file, path: path, message: message, line: line, column: column)
    }

    private func syntaxIssue(_ error: any Error) -> ShotListIssue {
        guard let yaml = error as? YamlError else {
            return issue("", "cannot be read as YAML: \(error)")
        }
        switch yaml {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = problem
            if let context { message += " (\(context.text))" }
            return issue("", message, line: mark.line, column: mark.column)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            return issue("", "duplicate key \(keys) (a later value would silently replace the first)",
                         line: context.mark.line, column: context.mark.column)
        case .reader(let problem, let offset, _, _):
            return issue("", "cannot be read: \(problem)" + (offset.map { " at byte \($0)" } ?? ""))
        default:
            return issue("", "cannot be read as YAML: \(yaml)")
        }
    }
}

/// The settings a shot inherits from `defaults` and may override; nil marks a value that was
/// invalid where it was set (already reported), so shots that inherit it report nothing more.
struct ShotSettings {
    var fps: FrameRate?
    var resolution: Resolution?
    var aspect: Aspect?
    var engine: Engine?
    var outputs: [OutputFormat]?
    var seam: Int?
    var priority: Int?
    var maxAttempts: Int?
    var hdr: Bool? = false
    /// `.some(nil)`: not given (the default by source); nil: invalid where it was set.
    var exrColorspace: EXRColorspace?? = .some(nil)
    var reframe: [Aspect]? = []
    var reframePosition: ReframePosition? = .center
    var reframeEngine: ReframeEngine? = .auto
    var reuse: Bool? = true
    var draft: Bool? = false

    static let builtIn = ShotSettings(fps: FrameRate(24), resolution: .p1080, aspect: .widescreen,
                                      engine: .interpolate, outputs: [.mp4], seam: 0, priority: 50, maxAttempts: 3)
}

extension ShotListDecoder {
    func readSettings(_ fields: [String: (key: Node, value: Node)], path: String, inheriting base: ShotSettings,
                      reader: inout FieldReader) -> ShotSettings {
        var settings = base
        func at(_ key: String) -> String { reader.join(path, key) }
        if let node = fields["fps"]?.value {
            settings.fps = nil
            if let text = reader.string(node, at("fps")) {
                if let fps = FrameRate(text: text) { settings.fps = fps } else {
                    var message = "\(text) is not an allowed frame rate; allowed: 24, 25, 30, 48, 50, 60, \"24000/1001\", \"30000/1001\""
                    if text.hasPrefix("23.9") { message += " (write \"24000/1001\" for 23.976)" }
                    if text.hasPrefix("29.9") { message += " (write \"30000/1001\" for 29.97)" }
                    reader.report(at("fps"), message, at: node)
                }
            }
        }
        if let node = fields["resolution"]?.value {
            settings.resolution = nil
            if let text = reader.string(node, at("resolution")) {
                if text == Resolution.p360.rawValue {
                    reader.report(at("resolution"), "360p is a draft tier, not a resolution to deliver; keep the final's resolution (540p, 720p, 1080p) and add draft: true to render a draft first", at: node)
                } else if let value = Resolution(rawValue: text) { settings.resolution = value } else {
                    reader.report(at("resolution"), "\"\(text)\" is not an allowed resolution; allowed: 540p, 720p, 1080p (Keyfarm renders at most 1080p)", at: node)
                }
            }
        }
        if let node = fields["aspect"]?.value {
            settings.aspect = nil
            if let text = reader.string(node, at("aspect")) {
                if let value = Aspect(rawValue: text) { settings.aspect = value } else {
                    var message = "\"\(text)\" is not an allowed aspect; allowed: " + Aspect.allCases.map(\.rawValue).joined(separator: ", ")
                    if text.contains(":") == false && text.contains(".") { message += " (quote it: aspect: \"16:9\")" }
                    reader.report(at("aspect"), message, at: node)
                }
            }
        }
        if let node = fields["engine"]?.value {
            settings.engine = readEngine(node, at("engine"), reader: &reader)
        }
        if let node = fields["outputs"]?.value {
            settings.outputs = nil
            if let list = reader.sequence(node, at("outputs"), what: "outputs") {
                var outputs: [OutputFormat] = []
                var valid = true
                if list.isEmpty {
                    reader.report(at("outputs"), "the list is empty; name at least one of mp4, prores, exr, hdr10", at: node)
                    valid = false
                }
                for (index, item) in list.enumerated() {
                    let itemPath = at("outputs") + "[\(index)]"
                    guard let text = reader.string(item, itemPath) else { valid = false; continue }
                    guard let format = OutputFormat(rawValue: text) else {
                        reader.report(itemPath, "\"\(text)\" is not an output format; allowed: mp4, prores, exr, hdr10", at: item)
                        valid = false
                        continue
                    }
                    if outputs.contains(format) {
                        reader.report(itemPath, "\"\(text)\" is listed twice", at: item)
                        valid = false
                    }
                    outputs.append(format)
                }
                if valid { settings.outputs = outputs }
            }
        }
        if let node = fields["seam"]?.value {
            settings.seam = reader.integer(node, at("seam"), range: 0...12, unit: "frames")
        }
        if let node = fields["priority"]?.value {
            settings.priority = reader.integer(node, at("priority"), range: 0...100)
        }
        if let node = fields["max_attempts"]?.value {
            settings.maxAttempts = reader.integer(node, at("max_attempts"), range: 1...10)
        }
        if let node = fields["hdr"]?.value {
            settings.hdr = reader.boolean(node, at("hdr"))
        }
        if let node = fields["draft"]?.value {
            settings.draft = reader.boolean(node, at("draft"))
        }
        if let node = fields["reuse"]?.value {
            settings.reuse = reader.boolean(node, at("reuse"))
        }
        if let node = fields["reframe"]?.value {
            settings.reframe = readReframe(node, at("reframe"), reader: &reader)
        }
        if let node = fields["reframe_position"]?.value {
            settings.reframePosition = readReframePosition(node, at("reframe_position"), reader: &reader)
        }
        if let node = fields["reframe_engine"]?.value {
            settings.reframeEngine = nil
            if let text = reader.string(node, at("reframe_engine")) {
                if let value = ReframeEngine(rawValue: text) { settings.reframeEngine = value } else {
                    reader.report(at("reframe_engine"), "\"\(text)\" is not a reframe engine; allowed: auto (the provider's reframe where it has one), local (a free crop)", at: node)
                }
            }
        }
        if let node = fields["exr_colorspace"]?.value {
            settings.exrColorspace = nil
            if let text = reader.string(node, at("exr_colorspace")) {
                if let value = EXRColorspace(rawValue: text) { settings.exrColorspace = .some(value) } else {
                    reader.report(at("exr_colorspace"), "\"\(text)\" is not an EXR colour space; allowed: "
                                  + EXRColorspace.allCases.map(\.rawValue).joined(separator: ", "), at: node)
                }
            }
        }
        return settings
    }

    func readEngine(_ node: Node, _ path: String, reader: inout FieldReader) -> Engine? {
        guard let text = reader.string(node, path) else { return nil }
        guard let engine = Engine(name: text) else {
            reader.report(path, "\"\(text)\" is not a known engine (known: \(Engine.knownNames.joined(separator: ", ")))", at: node)
            return nil
        }
        return engine
    }

    func readPrompt(_ node: Node, _ path: String, reader: inout FieldReader) -> String? {
        guard let text = reader.string(node, path) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            reader.report(path, "is empty; leave the key out instead", at: node)
            return nil
        }
        if trimmed.count > Self.maximumPromptLength {
            reader.report(path, "\(trimmed.count) characters, at most \(Self.maximumPromptLength)", at: node)
            return nil
        }
        return trimmed
    }

    func readImage(_ node: Node, _ path: String, reader: inout FieldReader) -> ImageReference? {
        guard let text = reader.string(node, path) else { return nil }
        if text.isEmpty {
            reader.report(path, "is empty; give a PNG or EXR path or an https:// URL, or leave the key out", at: node)
            return nil
        }
        let lower = text.lowercased()
        if lower.hasPrefix("https://") {
            guard let url = URL(string: text), let host = url.host, !host.isEmpty else {
                reader.report(path, "\(text): not a valid https URL", at: node)
                return nil
            }
            return .url(text)
        }
        if lower.hasPrefix("http://") {
            reader.report(path, "\(text): plain http is not allowed; use an https:// URL or a local file", at: node)
            return nil
        }
        if lower.range(of: "^[a-z][a-z0-9+.-]*://", options: .regularExpression) != nil {
            reader.report(path, "\(text): only https:// URLs and local files are allowed", at: node)
            return nil
        }
        let resolved = text.hasPrefix("/") ? text : (directory.isEmpty ? text : directory + "/" + text)
        switch inspector.inspect(path: resolved) {
        case .png, .exr:
            return .file(given: text, path: resolved)
        case .missing:
            reader.report(path, "\(text): no such file", at: node)
        case .directory:
            reader.report(path, "\(text): is a directory, not an image", at: node)
        case .unreadable(let reason):
            reader.report(path, "\(text): cannot be read (\(reason))", at: node)
        case .unsupported(let detail):
            reader.report(path, "\(text): not a PNG or EXR image (\(detail)); keyframe images must be PNG (8 or 16 bit) or EXR", at: node)
        }
        return nil
    }
}
