import KeyfarmCommands
import Testing

/// `keyfarm fake-provider`'s arguments, parsed in-process.
@Suite struct FakeProviderCommandTests {
    @Test(arguments: [["--listen", "localhost:8089"], ["--listen", "127.0.0.1"], ["--listen", "127.0.0.1:99999"],
                      ["--step-ms", "-1"]])
    func badArgumentsAreUsageErrors(_ arguments: [String]) {
        let captured = CapturedConsole()
        let status = KeyfarmCLI.run(["fake-provider"] + arguments, console: captured.console, environment: [:])
        #expect(status == 64)
        #expect(captured.error.contains(arguments[0]))
        #expect(captured.out.isEmpty)
    }

    @Test func helpNamesTheAPIs() {
        let captured = CapturedConsole()
        #expect(KeyfarmCLI.run(["fake-provider", "--help"], console: captured.console, environment: [:]) == 0)
        // The help is wrapped to the terminal's width, so a name may straddle a line break.
        let text = captured.out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for name in ["Luma Dream Machine", "Luma Agents", "WaveSpeed", "fal.ai", "/_fake/faults", "KEYFARM_WAVESPEED_API_URL"] {
            #expect(text.contains(name), "\(name)")
        }
    }
}
