import Foundation
import KeyfarmCore
import KeyfarmFuzzSupport
import Testing

/// Seeded random mutations of valid shot lists through `ShotListDecoder` (and, when a mutant is
/// still valid, the planner and the plan's JSON, which `keyfarm submit` runs next).
///
/// Each case starts from a valid list of the corpus and applies one to four mutations: byte
/// corruption, YAML syntax inserted, a line duplicated (duplicate keys), numbers at the edges
/// (huge, negative, exponent, hex), values nested deep in flow or block collections, aliases,
/// lines swapped or cut. A case passes when the decoder returns a list that plans, or throws
/// `ShotListInvalid` (its typed throws guarantee the type) with at least one issue and no empty
/// message. A crash (a trap, a precondition, a stack overflow) fails the whole run.
///
/// `KEYFARM_FUZZ_CASES` (default 100,000; `make fuzz` runs more) and `KEYFARM_FUZZ_SEED`
/// change the run.
@Suite struct ShotListFuzzTests {
    static let run = FuzzRun(defaultCases: 100_000)

    static let corpus: [String] = [
        """
        # Interpolated, every setting spelled out.
        version: 1
        name: demo
        project: keyfarm-demo
        budget: 1000
        defaults:
          fps: 24
          resolution: 540p
          aspect: "16:9"
          engine: interpolate
          outputs: [mp4, exr]
          seam: 2
          priority: 60
          max_attempts: 3
        shots:
          - id: sh010
            duration: 4
            keyframes:
              - at: 0
                image: refs/a.png
                prompt: "wide shot, a beach ball rests near a tree"
              - at: 2
                image: refs/b.png
              - at: 4
                image: refs/c.exr
          - id: sh020
            duration: 2.5
            fps: "24000/1001"
            keyframes:
              - {at: 0, image: refs/a.png}
              - {at: 2.5, image: refs/b.png}
        """,
        """
        version: 1
        name: providers
        defaults:
          engine: luma/ray-2
          resolution: 720p
        shots:
          - id: sh010
            duration: 8
            keyframes:
              - at: 0
                image: refs/a.png
                prompt: a harbour at dawn
              - at: 4
                prompt: the boats leave
              - at: 8
                image: https://example.com/end.png
            segments:
              "1": { engine: luma/ray-3.2, prompt: "slow pan", priority: 90, max_attempts: 2 }
          - id: sh020
            duration: 20
            engine: fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video
            keyframes:
              - at: 0
                image: refs/a.png
              - at: 20
                image: refs/b.png
        """,
        """
        {"version": 1, "name": "json-list", "shots": [{"id": "a1", "duration": 1.5, "outputs": ["prores"],
          "keyframes": [{"at": 0, "image": "refs/a.png"}, {"at": 0.75, "image": "refs/b.png"}, {"at": 1.5, "image": "refs/c.exr"}]}]}
        """,
        """
        version: 1
        name: anchors
        defaults: &d
          engine: luma/ray-flash-2
          resolution: 1080p
        shots:
          - id: x
            duration: 5
            keyframes:
              - at: 0
                prompt: >
                  a folded
                  prompt
              - at: 5
                image: /shots/refs/a.png
        """,
    ]

    /// Pieces of YAML syntax, odd scalars and numbers at the edges, inserted at random.
    static let fragments: [String] = [
        ": ", "- ", "-", "[", "]", "{", "}", ",", "? ", "|", ">", "|-", "\"", "'", "#", "\n", "\t", "  ", "\r\n",
        "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "&a ", "*a", "*undefined", "<<: *a\n", "!!int ",
        "!!str ", "!!binary ", "!!float ", "!!map ", "!custom ", "~", "null", "true", "no", ".inf", "-.inf", ".nan",
        "0x7fffffffffffffff", "0o777", "1e309", "-0", "1_000", "99999999999999999999999", "9223372036854775807",
        "-9223372036854775808", "999999999999.999999999", "0.0000000001", "12.5e3", "+.5", "1:20", "2001-12-14",
        "\u{0}", "\u{FEFF}", "\u{7}", "\u{85}", "\u{2028}", "é", "🎬", "\\", "\\u0000", "%", "@", "`",
    ]

    static let numbers: [String] = [
        "0", "-1", "20", "20.000000001", "0.000000001", "1e3", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "999999999999", "999999999999.999999999", "-999999999999.999999999", "123456789012",
        "0.1234567890", "1/3", "0x10", ".5", "5.", "+5", "-0.0", "NaN", ".inf", "4294967296", "100000000000000000000",
    ]

    @Test func theCorpusIsValid() throws {
        for text in Self.corpus {
            let list = try Self.decoder.decode(text)
            _ = Planner().plan(list)
        }
    }

    @Test func mutatedShotListsDecodeOrAreRejectedCleanly() async {
        let started = ContinuousClock.now
        let tally = await Self.run.tallyOffPool { _, generator in
            let text = Self.mutant(using: &generator)
            switch Self.check(text) {
            case .accepted: return ("accepted", nil)
            case .rejected: return ("rejected", nil)
            case .wrong(let problem): return ("wrong", "\(problem)\n--- input (first 2000 characters) ---\n\(text.prefix(2000))")
            }
        }
        for failure in tally.failures { Issue.record(Comment(rawValue: failure)) }
        #expect(tally.failureCount == 0)
        // Both ways out are reached: mutants that stay valid, and mutants that are refused.
        let accepted = tally.outcomes["accepted", default: 0], rejected = tally.outcomes["rejected", default: 0]
        #expect(accepted > Self.run.cases / 100, "accepted \(accepted) of \(Self.run.cases)")
        #expect(rejected > Self.run.cases / 2, "rejected \(rejected) of \(Self.run.cases)")
        print("shot list fuzz: \(Self.run.cases) cases (\(accepted) accepted, \(rejected) rejected) in \(ContinuousClock.now - started)")
    }

    /// Inputs the fuzzer found that crashed the decoder (Int64 overflow traps in `Rational`),
    /// now refused with an issue naming the field.
    @Test(arguments: [
        ("      - at: 0\n        image: refs/a.png\n      - at: 999999999999.999999999\n        image: refs/b.png",
         "4", "shots[0].keyframes[1].at"),
        ("      - at: 0.5\n        image: refs/a.png\n      - at: 9223372036.854775807\n        image: refs/b.png",
         "7.5", "shots[0].keyframes[0].at"),
        ("      - at: 0\n        image: refs/a.png\n      - at: 2\n        image: refs/b.png",
         "2\n    fps: \"-9223372036854775808\"", "shots[0].fps"),
    ])
    func inputsThatOnceCrashedAreRejected(keyframes: String, duration: String, field: String) {
        let text = oneShot(duration: duration, keyframes: keyframes)
        guard case .rejected = Self.check(text) else {
            Issue.record("not rejected cleanly: \(Self.check(text))")
            return
        }
        #expect(issues(text).contains { $0.path == field }, "\(issues(text))")
    }

    /// Nesting past the YAML parser's limit (1,000 levels) is an error, not a stack overflow.
    @Test func nestingTooDeepIsASyntaxError() {
        for (open, close) in [("[", "]"), ("{a: ", "}")] {
            let text = "version: 1\nname: deep\nshots: " + String(repeating: open, count: 100_000)
                + String(repeating: close, count: 100_000) + "\n"
            let found = issues(text)
            #expect(found.count == 1 && found[0].message.contains("nesting"), "\(found)")
        }
    }

    // MARK: - Generating cases

    static let decoder = ShotListDecoder(file: "fuzz.yaml", directory: "/shots",
                                         inspector: FolderInspector(files: standardFiles))

    static func mutant(using generator: inout SeededGenerator) -> String {
        var text = corpus.randomElement(using: &generator)!
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            text = mutate(text, using: &generator)
        }
        return text
    }

    static func mutate(_ text: String, using generator: inout SeededGenerator) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func line() -> Int { Int.random(in: 0..<lines.count, using: &generator) }
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<25:
            // Bytes: flips, deletions, insertions, truncation. Invalid UTF-8 is repaired, as
            // `keyfarm submit` refuses it before the decoder sees it.
            var bytes = Array(text.utf8)
            ByteMutation.allCases.randomElement(using: &generator)!.apply(to: &bytes, using: &generator)
            return String(decoding: bytes, as: UTF8.self)
        case 25..<45:
            // A piece of YAML syntax somewhere.
            var scalars = text.unicodeScalars
            let at = scalars.index(scalars.startIndex, offsetBy: Int.random(in: 0...scalars.count, using: &generator))
            scalars.insert(contentsOf: fragments.randomElement(using: &generator)!.unicodeScalars, at: at)
            return String(scalars)
        case 45..<55:
            // A line twice: duplicate keys, or a keyframe twice.
            let index = line()
            lines.insert(lines[index], at: index + Int.random(in: 0...1, using: &generator))
        case 55..<70:
            // A number replaced by one at the edges.
            let numberLines = lines.indices.filter { lines[$0].contains { $0.isNumber } }
            guard let index = numberLines.randomElement(using: &generator) else { return text }
            lines[index] = lines[index].replacing(#/-?[0-9][0-9.]*/#, maxReplacements: 1) { _ in
                numbers.randomElement(using: &generator)!
            }
        case 70..<80:
            // A value nested deep: flow sequences or mappings, or block mappings.
            let valueLines = lines.indices.filter { lines[$0].contains(": ") }
            guard let index = valueLines.randomElement(using: &generator),
                  let colon = lines[index].range(of: ": ") else { return text }
            // Past the parser's limit of 1,000 levels now and then, which must be an error, not a crash.
            let depth = generator.chance(1, in: 50) ? Int.random(in: 990...3_000, using: &generator)
                                                    : Int.random(in: 1...64, using: &generator)
            let value = String(lines[index][colon.upperBound...])
            let nested: String
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: nested = String(repeating: "[", count: depth) + value + String(repeating: "]", count: depth)
            case 1: nested = String(repeating: "{k: ", count: depth) + value + String(repeating: "}", count: depth)
            default:
                let indent = String(repeating: " ", count: lines[index].prefix { $0 == " " }.count)
                nested = "\n" + (1...min(depth, 200)).map { indent + String(repeating: "  ", count: $0) + "k:" }
                    .joined(separator: "\n") + " " + value
            }
            lines[index] = String(lines[index][..<colon.upperBound]) + nested
        case 80..<88:
            // An anchor and aliases to it (the start of a "billion laughs").
            let index = line()
            lines.insert("x: &a [*a, *a]", at: index)
            lines.insert("y: &b [\(String(repeating: "*b, ", count: 8))1]", at: index)
        case 88..<95:
            // Two lines swapped.
            let first = line(), second = line()
            lines.swapAt(first, second)
        default:
            // Cut short, or a line removed.
            if generator.chance(1, in: 2) {
                lines.removeSubrange(line()...)
            } else {
                lines.remove(at: line())
            }
        }
        return lines.joined(separator: "\n")
    }

    // MARK: - Checking a case

    enum Verdict {
        case accepted, rejected
        case wrong(String)
    }

    static func check(_ text: String) -> Verdict {
        do {
            let list = try decoder.decode(text)
            let plan = Planner().plan(list)
            guard !plan.shots.isEmpty, !plan.jsonData(pretty: false).isEmpty else {
                return .wrong("a valid list planned to nothing")
            }
            return .accepted
        } catch {
            guard !error.issues.isEmpty else { return .wrong("rejected with no issue") }
            if let empty = error.issues.first(where: { $0.message.isEmpty }) {
                return .wrong("an issue without a message at \(empty.path)")
            }
            return .rejected
        }
    }
}
