import Foundation
import Synchronization

@_exported import struct KeyfarmCore.SeededGenerator

/// Fuzzing's helpers on the seeded generator: a case is the same on every machine and can be
/// replayed from its seed and index.
extension SeededGenerator {
    /// True with probability `numerator` in `denominator`.
    public mutating func chance(_ numerator: Int, in denominator: Int) -> Bool {
        Int.random(in: 0..<denominator, using: &self) < numerator
    }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}

/// How much fuzzing a run does: `KEYFARM_FUZZ_CASES` cases (default `defaultCases`) from seed
/// `KEYFARM_FUZZ_SEED` (default: a fixed one, so CI runs the same cases every time). Case `i`
/// uses its own generator, seeded from the run's seed and `i`, so any case can be replayed alone.
public struct FuzzRun: Sendable {
    public var cases: Int
    public var seed: UInt64

    public init(defaultCases: Int, environment: [String: String] = ProcessInfo.processInfo.environment) {
        cases = environment["KEYFARM_FUZZ_CASES"].flatMap { Int($0) }.map { max($0, 1) } ?? defaultCases
        seed = environment["KEYFARM_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x6B65_7966_6172_6D01
    }

    /// The generator of case `index`.
    public func generator(forCase index: Int) -> SeededGenerator {
        var mixer = SeededGenerator(seed: seed ^ UInt64(index) &* 0x2545_F491_4F6C_DD1D)
        return SeededGenerator(seed: mixer.next())
    }

    /// What a run saw: how many cases ended each way, and the first failures (at most ten).
    public struct Tally: Sendable {
        public var outcomes: [String: Int] = [:]
        public var failureCount = 0
        public var failures: [String] = []
    }

    /// `tally` on a thread of its own, awaited: a run takes minutes on a loaded machine, and a
    /// test that blocked a thread of the cooperative pool that long would starve every other
    /// test's async work (an in-process HTTP server's handlers, say) of its few threads.
    public func tallyOffPool(_ body: @escaping @Sendable (_ index: Int, _ generator: inout SeededGenerator)
                                -> (outcome: String, problem: String?)) async -> Tally {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: tally(body)) }
        }
    }

    /// Runs every case, spread over the machine's cores (each case depends only on its index,
    /// so the run is the same however it is spread). `body` makes and checks case `index` with
    /// the generator given, and returns how it ended and what was wrong (nil when it behaved).
    public func tally(_ body: @Sendable (_ index: Int, _ generator: inout SeededGenerator) -> (outcome: String, problem: String?))
        -> Tally {
        let shared = Mutex(Tally())
        let lanes = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            var local = Tally()
            for index in stride(from: lane, to: cases, by: lanes) {
                var generator = generator(forCase: index)
                let verdict = body(index, &generator)
                local.outcomes[verdict.outcome, default: 0] += 1
                if let problem = verdict.problem {
                    local.failureCount += 1
                    if local.failures.count < 10 { local.failures.append("\(replay(index)): \(problem)") }
                }
            }
            shared.withLock { total in
                total.outcomes.merge(local.outcomes, uniquingKeysWith: +)
                total.failureCount += local.failureCount
                total.failures += local.failures.prefix(10 - min(total.failures.count, 10))
            }
        }
        return shared.withLock { $0 }
    }

    /// How to replay one case, for failure messages.
    public func replay(_ index: Int) -> String {
        "case \(index) of seed \(seed) (KEYFARM_FUZZ_SEED=\(seed) KEYFARM_FUZZ_CASES=\(index + 1))"
    }
}

/// Byte-level mutations shared by the fuzz tests: what a corrupted file or frame looks like.
public enum ByteMutation: CaseIterable, Sendable {
    case flipBit, replaceByte, deleteRange, insertRandom, duplicateRange, truncate, swapRanges, insertBoundary

    /// Values at the edges of integer encodings: zero, sign bits, all ones.
    static let boundaryBytes: [[UInt8]] = [
        [0x00], [0xFF], [0x7F], [0x80], [0xFF, 0xFF, 0xFF, 0xFF], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], [0xEF, 0xBB, 0xBF], [0xC0, 0x80], [0xED, 0xA0, 0x80],
    ]

    public func apply(to bytes: inout [UInt8], using generator: inout SeededGenerator) {
        let count = bytes.count
        func position(inclusive: Bool = false) -> Int { Int.random(in: 0...(inclusive ? count : max(count - 1, 0)), using: &generator) }
        func span() -> Range<Int> {
            guard count > 0 else { return 0..<0 }
            let start = position()
            let length = Int.random(in: 1...max(1, min(count - start, generator.chance(1, in: 8) ? count : 16)), using: &generator)
            return start..<min(start + length, count)
        }
        switch self {
        case .flipBit:
            guard count > 0 else { return }
            bytes[position()] ^= 1 << UInt8.random(in: 0...7, using: &generator)
        case .replaceByte:
            guard count > 0 else { return }
            bytes[position()] = UInt8.random(in: 0...255, using: &generator)
        case .deleteRange:
            bytes.removeSubrange(span())
        case .insertRandom:
            bytes.insert(contentsOf: generator.bytes(Int.random(in: 1...16, using: &generator)), at: position(inclusive: true))
        case .duplicateRange:
            let range = span()
            bytes.insert(contentsOf: bytes[range], at: position(inclusive: true))
        case .truncate:
            bytes.removeSubrange(position(inclusive: true)...)
        case .swapRanges:
            let first = span(), second = span()
            guard first.upperBound <= second.lowerBound else { return }
            let a = Array(bytes[first]), b = Array(bytes[second])
            bytes.replaceSubrange(second, with: a)
            bytes.replaceSubrange(first, with: b)
        case .insertBoundary:
            bytes.insert(contentsOf: Self.boundaryBytes.randomElement(using: &generator)!, at: position(inclusive: true))
        }
    }
}
