import Foundation
import KeyfarmFuzzSupport
import SwiftProtobuf
import Testing
import KeyfarmWire

/// Seeded random input for `WireMessage.decode`, the one function every received frame goes
/// through (PROTOCOL.md: "A receiver MUST survive any bytes a peer sends"). Each case is random
/// frames, a valid message with its body, signature or command corrupted, a body of protobuf
/// fields with absurd lengths or deeply nested groups, or the wrong number of frames.
///
/// A case passes when decoding either returns a message that survives a round trip
/// (`frames()` then `decode` again gives the same frames) or throws a `WireError` (the
/// signature's typed throws guarantee the type) whose description is not empty. A crash
/// fails the whole run. `KEYFARM_FUZZ_CASES` and `KEYFARM_FUZZ_SEED` change the run.
@Suite struct WireFuzzTests {
    static let run = FuzzRun(defaultCases: 100_000)

    /// One valid message of every command, every field set.
    static let corpus: [WireMessage] = {
        var job = RunningJobBody()
        job.jobID = 42
        job.attempt = 3
        job.providerRequestID = "d1c8e3a0-7f3a"
        job.progress = 0.5
        var hello = HelloBody()
        hello.name = "render-07"
        hello.version = "0.1.0"
        hello.host = "render-07.lan"
        hello.engines = ["interpolate", "luma/*", "stitch"]
        hello.slots = 4
        hello.running = [job, job]
        hello.instance = "7f3a9c01"
        hello.draining = true
        var welcome = WelcomeBody()
        welcome.workerID = 7
        welcome.heartbeatIntervalMs = 1000
        welcome.liveness = 3
        welcome.adopted = [job]
        welcome.abandon = [job]
        var heartbeat = HeartbeatBody()
        heartbeat.freeSlots = 2
        heartbeat.draining = true
        var assign = AssignBody()
        assign.jobID = 1_234_567_890_123
        assign.attempt = 2
        assign.jobKey = "sh010/s1p2"
        assign.kind = "segment"
        assign.engine = "luma/ray-2"
        assign.specJson = #"{"kind": "segment", "frames": [0, 96], "prompt": "a harbour at dawn, ☀️"}"#
        assign.shotList = "spot"
        assign.project = "acme"
        assign.resumeProviderRequestID = "gen-1"
        assign.sentAtUnixUs = 1_790_000_000_000_000
        var accepted = AcceptedBody()
        accepted.jobID = 42
        accepted.attempt = 1
        accepted.receivedAtUnixUs = -1
        var progress = ProgressBody()
        progress.jobID = 42
        progress.attempt = 1
        progress.fraction = 0.25
        progress.message = "polling"
        var submitted = SubmittedBody()
        submitted.jobID = 42
        submitted.attempt = 1
        submitted.provider = "luma"
        submitted.requestID = "gen-2"
        var submittedAck = SubmittedAckBody()
        submittedAck.jobID = 42
        submittedAck.attempt = 1
        var artifact = ArtifactBody()
        artifact.path = "acme/spot/sh010/segments/s1/attempt-1/clip.mp4"
        artifact.sha256 = String(repeating: "ab", count: 32)
        artifact.bytes = 1 << 40
        artifact.mediaType = "video/mp4"
        var result = ResultBody()
        result.jobID = 42
        result.attempt = 1
        result.outcome = .failed
        result.errorClass = .rateLimited
        result.error = "HTTP 429"
        result.artifacts = [artifact, artifact]
        result.credits = 159
        result.provider = "luma"
        result.providerRequestID = "gen-3"
        result.retryAfterS = 12.5
        result.receivedAtUnixUs = 1
        var resultAck = ResultAckBody()
        resultAck.jobID = 42
        resultAck.attempt = 1
        var cancel = CancelBody()
        cancel.jobID = 42
        cancel.attempt = 1
        cancel.reason = "shot list cancelled"
        var drain = DrainBody()
        drain.draining = true
        drain.reason = "drained by an operator"
        var disconnect = DisconnectBody()
        disconnect.reason = "unknown worker"
        return [.hello(hello), .welcome(welcome), .heartbeat(heartbeat), .assign(assign), .accepted(accepted),
                .progress(progress), .submitted(submitted), .submittedAck(submittedAck), .result(result),
                .resultAck(resultAck), .cancel(cancel), .drain(drain), .disconnect(disconnect)]
    }()

    @Test func theCorpusCoversEveryCommandAndRoundTrips() throws {
        #expect(Set(Self.corpus.map(\.command)) == Set(WireCommand.allCases))
        for message in Self.corpus {
            #expect(try WireMessage.decode(message.frames()).frames() == message.frames())
        }
    }

    @Test func randomAndMutatedFramesDecodeOrAreRejectedCleanly() async {
        let tally = await Self.run.tallyOffPool { _, generator in Self.check(Self.frames(using: &generator)) }
        for failure in tally.failures { Issue.record(Comment(rawValue: failure)) }
        #expect(tally.failureCount == 0)
        // The generator reaches past every check of the decoder, not just the first.
        for outcome in ["decoded", "frameCount", "badSignature", "unsupportedVersion", "unknownCommand", "badBody"] {
            #expect(tally.outcomes[outcome, default: 0] > 0, "no case ended as \(outcome): \(tally.outcomes)")
        }
        #expect(tally.outcomes.values.reduce(0, +) == Self.run.cases)
    }

    /// The largest frames a peer can send (ZMQ_MAXMSGSIZE is 4 MiB) and protobuf lengths that
    /// claim far more than the frame holds are refused without trying to allocate them.
    @Test func hugeFramesAndLengthsAreRejectedCleanly() {
        let fourMiB = 4 * 1024 * 1024
        let header: [[UInt8]] = [WireProtocol.signature, Array("RESULT".utf8)]
        var cases: [[[UInt8]]] = [
            header + [[UInt8](repeating: 0xFF, count: fourMiB)],
            header + [[UInt8](repeating: 0x0B, count: fourMiB)],  // 4 Mi nested start-group tags
            [[UInt8](repeating: 0x4B, count: fourMiB), Array("HELLO".utf8), []],
            [WireProtocol.signature, [UInt8](repeating: 0x41, count: fourMiB), []],
        ]
        // Field 5 (a string) claiming 2^31, 2^32 - 1 and 2^64 - 1 bytes.
        for length in [UInt64(1) << 31, UInt64(UInt32.max), UInt64.max] {
            cases.append(header + [[0x2A] + Self.varint(length) + Array("short".utf8)])
        }
        // A 4 MiB string that is really there decodes: big is not wrong.
        var error = ResultBody()
        error.error = String(repeating: "x", count: fourMiB - 64)
        cases.append(WireMessage.result(error).frames())
        for frames in cases {
            let verdict = Self.check(frames)
            #expect(verdict.problem == nil, "\(verdict.problem ?? "")")
        }
    }

    // MARK: - Generating cases

    static func frames(using generator: inout SeededGenerator) -> [[UInt8]] {
        let base = corpus.randomElement(using: &generator)!.frames()
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<12:
            // Anything at all.
            let count = Int.random(in: 0...5, using: &generator)
            return (0..<count).map { _ in generator.bytes(Int.random(in: 0...(generator.chance(1, in: 10) ? 300 : 24), using: &generator)) }
        case 12..<60:
            // A valid message with its body corrupted.
            var frames = base
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                ByteMutation.allCases.randomElement(using: &generator)!.apply(to: &frames[2], using: &generator)
            }
            return frames
        case 60..<70:
            // The signature and version: other bytes, other versions, other lengths.
            var frames = base
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: frames[0][3] = UInt8.random(in: 0...255, using: &generator)
            case 1: frames[0] = generator.bytes(Int.random(in: 0...8, using: &generator))
            default: ByteMutation.allCases.randomElement(using: &generator)!.apply(to: &frames[0], using: &generator)
            }
            return frames
        case 70..<80:
            // The command: another command's body, lower case, garbage, too long, not ASCII.
            var frames = base
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: frames[1] = Array(WireCommand.allCases.randomElement(using: &generator)!.rawValue.utf8)
            case 1: frames[1] = Array(String(decoding: frames[1], as: UTF8.self).lowercased().utf8)
            case 2: frames[1] = generator.bytes(Int.random(in: 0...40, using: &generator))
            default: ByteMutation.allCases.randomElement(using: &generator)!.apply(to: &frames[1], using: &generator)
            }
            return frames
        case 80..<95:
            // A body built from protobuf fields, with lengths and nesting a peer should never send.
            var frames = base
            frames[2] = protobufNoise(using: &generator)
            return frames
        default:
            // Frames missing or extra (as a ROUTER sees a message whose identity was not stripped).
            var frames = base
            if generator.chance(1, in: 2), !frames.isEmpty {
                frames.remove(at: Int.random(in: 0..<frames.count, using: &generator))
            } else {
                frames.insert(generator.bytes(Int.random(in: 0...8, using: &generator)),
                              at: Int.random(in: 0...frames.count, using: &generator))
            }
            return frames
        }
    }

    /// Up to eight protobuf fields of random numbers and wire types, some with lengths larger
    /// than the body, some deeply nested groups, some truncated varints.
    static func protobufNoise(using generator: inout SeededGenerator) -> [UInt8] {
        var body: [UInt8] = []
        for _ in 0..<Int.random(in: 1...8, using: &generator) {
            let field = UInt64(generator.chance(1, in: 4) ? Int.random(in: 1...536_870_911, using: &generator)
                                                         : Int.random(in: 1...12, using: &generator))
            let wireType = UInt64.random(in: 0...7, using: &generator)
            body += varint(field << 3 | wireType)
            switch wireType {
            case 0:
                body += varint(UInt64.random(in: 0...UInt64.max, using: &generator))
            case 1:
                body += generator.bytes(8)
            case 2:
                let lengths: [UInt64] = [0, 1, 5, 100, 1 << 20, UInt64(Int32.max), UInt64(UInt32.max), UInt64.max >> 1, UInt64.max]
                body += varint(lengths.randomElement(using: &generator)!)
                body += generator.bytes(Int.random(in: 0...16, using: &generator))
            case 3:
                // Start groups, nested, not always closed.
                let depth = generator.chance(1, in: 20) ? Int.random(in: 100...5_000, using: &generator)
                                                        : Int.random(in: 1...8, using: &generator)
                let start = varint(field << 3 | 3), end = varint(field << 3 | 4)
                for _ in 0..<depth { body += start }
                if generator.chance(1, in: 2) { for _ in 0..<depth { body += end } }
            case 5:
                body += generator.bytes(4)
            default:
                body += generator.bytes(Int.random(in: 0...4, using: &generator))
            }
        }
        if generator.chance(1, in: 10) { body.append(0x80) }  // a varint that never ends
        return body
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        repeat {
            bytes.append(UInt8(value & 0x7F) | (value > 0x7F ? 0x80 : 0))
            value >>= 7
        } while value > 0
        return bytes
    }

    // MARK: - Checking a case

    /// What decoding did, and what was wrong with it (nil when it behaved).
    static func check(_ frames: [[UInt8]]) -> (outcome: String, problem: String?) {
        let message: WireMessage
        do {
            message = try WireMessage.decode(frames)
        } catch {
            let description = error.description
            let outcome = switch error {
            case .frameCount: "frameCount"
            case .badSignature: "badSignature"
            case .unsupportedVersion: "unsupportedVersion"
            case .unknownCommand: "unknownCommand"
            case .badBody: "badBody"
            }
            return (outcome, description.isEmpty ? "a \(outcome) error with an empty description" : nil)
        }
        let encoded = message.frames()
        do {
            let again = try WireMessage.decode(encoded)
            guard again.frames() == encoded else {
                return ("decoded", "\(message.command.rawValue) changed in a round trip")
            }
        } catch {
            return ("decoded", "\(message.command.rawValue) decoded, but its own encoding does not: \(error)")
        }
        return ("decoded", nil)
    }
}
