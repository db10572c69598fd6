import Foundation
import SwiftProtobuf
import Testing
@testable import KeyfarmWire

/// The worked example of proto/PROTOCOL.md, byte for byte: if the generated messages or the
/// page drift apart, these fail.
@Suite struct WorkedExampleTests {
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = hex.filter(\.isHexDigit)
        var result: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            result.append(UInt8(digits[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    static let helloBody = bytes("""
        0a 09 72 65 6e 64 65 72 2d 30 37 12 05 30 2e 31 2e 30 1a 0d 72 65 6e 64 65 72 2d 30 37 2e
        6c 61 6e 22 0b 69 6e 74 65 72 70 6f 6c 61 74 65 22 06 6c 75 6d 61 2f 2a 22 06 73 74 69 74
        63 68 28 02 32 13 08 2a 10 01 1a 08 64 31 63 38 65 33 61 30 25 00 00 00 3f 3a 04 37 66 33
        61
        """)

    static let welcomeBody = bytes("""
        08 03 10 e8 07 18 03 22 13 08 2a 10 01 1a 08 64 31 63 38 65 33 61 30 25 00 00 00 3f
        """)

    static var runningJob: Keyfarm_Wire_V1_RunningJob {
        var job = Keyfarm_Wire_V1_RunningJob()
        job.jobID = 42
        job.attempt = 1
        job.providerRequestID = "d1c8e3a0"
        job.progress = 0.5
        return job
    }

    @Test func helloDecodesAsThePageWritesIt() throws {
        let hello = try Keyfarm_Wire_V1_Hello(serializedBytes: Self.helloBody)
        #expect(hello.name == "render-07")
        #expect(hello.version == "0.1.0")
        #expect(hello.host == "render-07.lan")
        #expect(hello.engines == ["interpolate", "luma/*", "stitch"])
        #expect(hello.slots == 2)
        #expect(hello.running == [Self.runningJob])
        #expect(hello.instance == "7f3a")
        #expect(hello.draining == false)
        #expect(Self.helloBody.count == 91)
    }

    @Test func helloEncodesToThePageBytes() throws {
        var hello = Keyfarm_Wire_V1_Hello()
        hello.name = "render-07"
        hello.version = "0.1.0"
        hello.host = "render-07.lan"
        hello.engines = ["interpolate", "luma/*", "stitch"]
        hello.slots = 2
        hello.running = [Self.runningJob]
        hello.instance = "7f3a"
        let encoded: [UInt8] = try hello.serializedBytes()
        #expect(encoded == Self.helloBody)
    }

    @Test func welcomeEncodesToThePageBytes() throws {
        var welcome = Keyfarm_Wire_V1_Welcome()
        welcome.workerID = 3
        welcome.heartbeatIntervalMs = 1000
        welcome.liveness = 3
        welcome.adopted = [Self.runningJob]
        let encoded: [UInt8] = try welcome.serializedBytes()
        #expect(encoded == Self.welcomeBody)
        #expect(encoded.count == 28)
    }

    @Test func anEmptyBodyIsEveryDefault() throws {
        let heartbeat = try Keyfarm_Wire_V1_Heartbeat(serializedBytes: [UInt8]())
        #expect(heartbeat == Keyfarm_Wire_V1_Heartbeat())
        let encoded: [UInt8] = try Keyfarm_Wire_V1_Heartbeat().serializedBytes()
        #expect(encoded.isEmpty)
    }

    @Test func garbageDoesNotDecode() {
        #expect(throws: (any Error).self) {
            _ = try Keyfarm_Wire_V1_Hello(serializedBytes: [0x0a, 0x09, 0x72])
        }
    }

    @Test func theSignatureIsKFPVersion1() {
        #expect(WireProtocol.signature == Array("KFP".utf8) + [1])
    }
}
