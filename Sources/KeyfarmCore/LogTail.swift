/// The end of an attempt's worker-side log, kept within a size: what a worker sends with its
/// RESULT and what the store keeps for `keyfarm logs`. Both ends bound it, so neither a chatty
/// engine nor a peer that ignores the limit can grow the database without bound.
public enum LogTail {
    /// The most a tail may hold, in bytes of UTF-8.
    public static let maximumBytes = 64 * 1024
    /// The most lines a worker keeps per attempt.
    public static let maximumLines = 200

    /// The last lines of `text` that fit in `maxBytes` bytes of UTF-8, cut at a line boundary
    /// (or, when the last line alone is longer, inside it at a character boundary), and how
    /// many lines were dropped from the front.
    public static func bounded(_ text: String, maxBytes: Int = maximumBytes) -> (text: String, droppedLines: Int) {
        let bytes = Array(text.utf8)
        guard bytes.count > maxBytes else { return (text, 0) }
        guard maxBytes > 0 else { return ("", lineCount(bytes[...])) }
        var start = bytes.count - maxBytes
        // Prefer a whole first line: skip past the first newline in what is kept, if any remains after it.
        if start > 0 && bytes[start - 1] != UInt8(ascii: "\n"),
           let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")), newline + 1 < bytes.count {
            start = newline + 1
        }
        // Never start inside a UTF-8 sequence (continuation bytes are 0b10xxxxxx).
        while start < bytes.count && bytes[start] & 0xC0 == 0x80 { start += 1 }
        let dropped = bytes[..<start]
        var droppedLines = dropped.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        if let last = dropped.last, last != UInt8(ascii: "\n") { droppedLines += 1 }
        return (String(decoding: bytes[start...], as: UTF8.self), droppedLines)
    }

    /// Lines in `bytes`: newlines, plus one for a last line without its newline.
    private static func lineCount(_ bytes: ArraySlice<UInt8>) -> Int {
        let newlines = bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        return newlines + (bytes.last.map { $0 == UInt8(ascii: "\n") ? 0 : 1 } ?? 0)
    }
}
