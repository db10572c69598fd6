import KeyfarmCore
import Testing

@Suite struct LogTailTests {
    @Test func theEndIsKeptAtALineOrCharacterBoundary() {
        #expect(LogTail.bounded("a\nb\nc", maxBytes: 10) == ("a\nb\nc", 0))
        #expect(LogTail.bounded("one\ntwo\nthree", maxBytes: 9) == ("two\nthree", 1))
        #expect(LogTail.bounded("one\ntwo\nthree", maxBytes: 8) == ("three", 2))
        // One line longer than the bound: its end, never half a character.
        let accented = String(repeating: "é", count: 10)
        let cut = LogTail.bounded(accented, maxBytes: 5)
        #expect(cut.text == "éé")
        #expect(cut.droppedLines == 1)
    }
}
