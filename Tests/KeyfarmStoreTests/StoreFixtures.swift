import Foundation
import KeyfarmCore
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmTestSupport
import Logging

/// Every image exists and is a PNG: store tests are about SQL, not files.
struct AnyPNG: ImageInspecting {
    func inspect(path: String) -> ImageFileKind { .png }
}

let testLogger: Logger = {
    var logger = Logger(label: "keyfarm.store-tests")
    logger.logLevel = .warning
    return logger
}()

/// A migrated store on a database of its own.
func freshStore() throws -> FarmStore {
    let store = try FarmStore(conninfo: try TestPostgres.freshDatabase(), logger: testLogger)
    try store.migrate()
    return store
}

func planned(_ yaml: String) throws -> Plan {
    Planner().plan(try ShotListDecoder(file: "test.yaml", directory: "/refs", inspector: AnyPNG()).decode(yaml))
}

/// A list of `shots` shots, each with `segments` interpolated segments (all images given, so every
/// segment job is ready at once and only the stitch jobs wait).
func wideList(name: String = "wide", shots: Int, segments: Int, priority: Int = 50) -> String {
    var text = "version: 1\nname: \(name)\ndefaults:\n  priority: \(priority)\nshots:\n"
    for shot in 0..<shots {
        text += "  - id: s\(shot)\n    duration: \(segments)\n    keyframes:\n"
        for k in 0...segments { text += "      - at: \(k)\n        image: k\(k).png\n" }
    }
    return text
}

/// Two luma segments where the second continues from the first, plus the stitch.
let chainedList = """
version: 1
name: chained
budget: 1000
defaults:
  engine: luma/ray-2
  resolution: 720p
  max_attempts: 2
shots:
  - id: sh010
    duration: 8
    keyframes:
      - at: 0
        image: a.png
        prompt: a harbour at dawn
      - at: 4
      - at: 8
        image: b.png
"""

extension FarmStore {
    func count(_ sql: String, _ parameters: [any PostgresBindable] = []) throws -> Int {
        try connection.execute(sql, parameters).rows.first!.decode("n", as: Int.self)
    }

    func jobState(_ key: String) throws -> String {
        try connection.execute("SELECT state FROM keyfarm.jobs WHERE job_key = $1", [key]).rows.first!.decode("state")
    }
}
