import Crypto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state one libcurl transfer's callbacks share: the headers so far and where the body goes.
///
/// curl calls back on the thread running `curl_easy_perform`, so this needs no locking; it
/// reaches the callbacks as an unretained context pointer and lives as long as the transfer.
final class HTTPTransfer {
    /// Where the body goes: into memory for `send`, into an open file for `download`.
    enum Sink {
        case memory
        case file(descriptor: Int32)
    }

    let sink: Sink
    /// The most bytes the body may have; one more stops the transfer.
    let limit: Int64
    /// The status of the response being received (each redirect's status line resets it).
    var status = 0
    /// The headers of the response being received, names lower-cased.
    var headers: [(String, String)] = []
    /// The body so far (memory sink only).
    var body: [UInt8] = []
    /// How many body bytes were taken so far.
    var received: Int64 = 0
    /// Set when the body went past `limit`, so a write error reads as "too large".
    var exceededLimit = false
    /// Set when writing the file failed, so a write error reads as the I/O failure it was.
    var fileError: String?
    /// The SHA-256 of the bytes written to the file so far.
    var hasher = SHA256()
    /// Called with `received` after each piece of the body, for progress reports.
    var onReceived: ((Int64) -> Void)?

    init(sink: Sink, limit: Int64) {
        self.sink = sink
        self.limit = limit
    }

    /// Takes one header line as curl hands it over (status lines and the blank end line too).
    func takeHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        var line = String(decoding: bytes, as: UTF8.self)
        // "\r\n" is one Character in Swift, so test for any newline, not for "\n".
        while let last = line.last, last.isNewline { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            // A new response starts (after a redirect or a 100 Continue): forget the last one's.
            headers.removeAll()
            let fields = line.split(separator: " ", maxSplits: 2)
            status = fields.count >= 2 ? Int(fields[1]) ?? 0 : 0
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].trimmingWhitespace().lowercased()
        let value = line[line.index(after: colon)...].trimmingWhitespace()
        guard !name.isEmpty else { return }
        headers.append((name, value))
    }

    /// Takes a piece of the body; returns how many bytes were taken (less stops curl).
    func takeBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        if received + Int64(bytes.count) > limit {
            exceededLimit = true
            return 0
        }
        switch sink {
        case .memory:
            body.append(contentsOf: bytes)
        case .file(let descriptor):
            // Only a 2xx body is the file; an error page is dropped, not written to disk.
            guard (200..<300).contains(status) else { return bytes.count }
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    fileError = String(cString: strerror(errno))
                    return 0
                }
                offset += written
            }
            hasher.update(bufferPointer: bytes)
        }
        received += Int64(bytes.count)
        onReceived?(received)
        return bytes.count
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingWhitespace() -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }),
              let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}
