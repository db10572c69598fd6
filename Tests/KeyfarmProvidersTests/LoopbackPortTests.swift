import Foundation
import KeyfarmProcess
import Testing

/// Ports for daemons on one machine come from below the kernel's ephemeral range, which every
/// outgoing connection draws its local port from (a test farm's many connections once took a
/// port between its choice and the coordinator's bind).
@Suite struct LoopbackPortTests {
    @Test func portsComeFromBelowTheEphemeralRangeAndAreFree() throws {
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        let ephemeralStart = try #require(range.first)
        var seen = Set<Int>()
        for _ in 0..<20 {
            let port = try LoopbackPort.unused()
            if ephemeralStart > 10_000 { #expect((10_000..<ephemeralStart).contains(port), "\(port)") }
            #expect(!LoopbackPort.isListening(port))
            seen.insert(port)
        }
        // Chosen at random, not the same port every time.
        #expect(seen.count > 1)
    }
}
