import KeyfarmCore

/// An inspector over an in-memory folder: the decoder's tests need no disk.
struct FolderInspector: ImageInspecting {
    var files: [String: ImageFileKind]
    func inspect(path: String) -> ImageFileKind { files[path] ?? .missing }
}

let standardFiles: [String: ImageFileKind] = [
    "/shots/refs/a.png": .png, "/shots/refs/b.png": .png, "/shots/refs/c.exr": .exr,
    "/shots/refs/photo.jpg": .unsupported(detail: "starts with ff d8 ff e0, a JPEG"),
    "/shots/refs": .directory,
]

func decode(_ text: String, files: [String: ImageFileKind] = standardFiles) throws(ShotListInvalid) -> ShotList {
    try ShotListDecoder(file: "list.yaml", directory: "/shots", inspector: FolderInspector(files: files)).decode(text)
}

/// The issues a shot list produces, or an empty list when it is valid.
func issues(_ text: String, files: [String: ImageFileKind] = standardFiles) -> [ShotListIssue] {
    do {
        _ = try decode(text, files: files)
        return []
    } catch {
        return error.issues
    }
}

func plan(_ text: String, prices: PriceTable = .defaults) throws -> Plan {
    Planner(prices: prices).plan(try decode(text))
}

/// A one-shot list with the given keyframe lines and shot settings.
func oneShot(duration: String, settings: String = "", keyframes: String, defaults: String = "") -> String {
    """
    version: 1
    name: test
    \(defaults.isEmpty ? "" : "defaults:\n" + defaults)
    shots:
      - id: sh010
        duration: \(duration)
    \(settings)
        keyframes:
    \(keyframes)
    """
}
