import CCurl
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks the typed wrappers over curl's variadic setopt / getinfo by moving real bytes
/// through `file://` URLs: a download with a write callback, an upload with a read callback,
/// and an abort from a progress callback. Callbacks are capture-free `@convention(c)`
/// closures that reach their state through an `Unmanaged` context pointer.
@Suite struct CurlTypedOptionTests {
    /// curl_global_init is not thread-safe in every libcurl; run it exactly once.
    static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_ALL))

    init() throws {
        try #require(Self.globalInit == CURLE_OK)
    }

    @Test func downloadsAFileURLThroughAWriteCallback() throws {
        let payload = samplePayload(count: 300_000)
        let file = try TemporaryFile(contents: payload)
        defer { file.remove() }
        let url = "file://" + file.path

        let handle = try #require(curl_easy_init())
        defer { curl_easy_cleanup(handle) }
        let sink = ByteSink()
        let writeToSink: curl_write_callback = { buffer, size, count, context in
            guard let buffer, let context else { return 0 }
            let sink = Unmanaged<ByteSink>.fromOpaque(context).takeUnretainedValue()
            let bytes = size * count
            buffer.withMemoryRebound(to: UInt8.self, capacity: bytes) { start in
                sink.bytes.append(contentsOf: UnsafeBufferPointer(start: start, count: bytes))
            }
            sink.calls += 1
            return bytes
        }

        #expect(kf_curl_easy_setopt_pointer(handle, CURLOPT_URL, url) == CURLE_OK)
        #expect(kf_curl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1) == CURLE_OK)
        #expect(kf_curl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, 10_000) == CURLE_OK)
        #expect(kf_curl_easy_setopt_off_t(handle, CURLOPT_MAXFILESIZE_LARGE, 1 << 30) == CURLE_OK)
        #expect(kf_curl_easy_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, writeToSink) == CURLE_OK)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        #expect(kf_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context) == CURLE_OK)

        let result = withExtendedLifetime(sink) { curl_easy_perform(handle) }
        #expect(result == CURLE_OK, "\(String(cString: curl_easy_strerror(result)))")
        #expect(sink.bytes == payload)
        #expect(sink.calls >= 1)

        // file:// has no server, so no response code: curl reports 0.
        var responseCode = -1
        #expect(kf_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &responseCode) == CURLE_OK)
        #expect(responseCode == 0)
        var downloaded: curl_off_t = -1
        #expect(kf_curl_easy_getinfo_off_t(handle, CURLINFO_SIZE_DOWNLOAD_T, &downloaded) == CURLE_OK)
        #expect(downloaded == curl_off_t(payload.count))
        var totalTime = -1.0
        #expect(kf_curl_easy_getinfo_double(handle, CURLINFO_TOTAL_TIME, &totalTime) == CURLE_OK)
        #expect(totalTime >= 0)
        var effectiveURL: UnsafeMutablePointer<CChar>?
        #expect(kf_curl_easy_getinfo_string(handle, CURLINFO_EFFECTIVE_URL, &effectiveURL) == CURLE_OK)
        #expect(effectiveURL.map { String(cString: $0) } == url)
    }

    @Test func missingFileIsAnErrorNotAnEmptyBody() throws {
        let handle = try #require(curl_easy_init())
        defer { curl_easy_cleanup(handle) }
        let discard: curl_write_callback = { _, size, count, _ in size * count }
        #expect(kf_curl_easy_setopt_pointer(handle, CURLOPT_URL, "file:///nonexistent/keyfarm/\(getpid()).png") == CURLE_OK)
        #expect(kf_curl_easy_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK)
        #expect(curl_easy_perform(handle) == CURLE_FILE_COULDNT_READ_FILE)
    }

    @Test func uploadsToAFileURLThroughAReadCallback() throws {
        let payload = samplePayload(count: 200_000)
        let file = try TemporaryFile(contents: [])
        defer { file.remove() }

        let handle = try #require(curl_easy_init())
        defer { curl_easy_cleanup(handle) }
        let source = ByteSource(bytes: payload)
        let readFromSource: curl_read_callback = { buffer, size, count, context in
            guard let buffer, let context else { return Int(CURL_READFUNC_ABORT) }
            let source = Unmanaged<ByteSource>.fromOpaque(context).takeUnretainedValue()
            let n = min(size * count, source.bytes.count - source.offset)
            source.bytes.withUnsafeBufferPointer { all in
                UnsafeMutableRawPointer(buffer).copyMemory(from: all.baseAddress! + source.offset, byteCount: n)
            }
            source.offset += n
            return n
        }

        #expect(kf_curl_easy_setopt_pointer(handle, CURLOPT_URL, "file://" + file.path) == CURLE_OK)
        #expect(kf_curl_easy_setopt_long(handle, CURLOPT_UPLOAD, 1) == CURLE_OK)
        #expect(kf_curl_easy_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(payload.count)) == CURLE_OK)
        #expect(kf_curl_easy_setopt_read_callback(handle, CURLOPT_READFUNCTION, readFromSource) == CURLE_OK)
        #expect(kf_curl_easy_setopt_pointer(handle, CURLOPT_READDATA, Unmanaged.passUnretained(source).toOpaque()) == CURLE_OK)

        let result = withExtendedLifetime(source) { curl_easy_perform(handle) }
        #expect(result == CURLE_OK, "\(String(cString: curl_easy_strerror(result)))")
        var uploaded: curl_off_t = -1
        #expect(kf_curl_easy_getinfo_off_t(handle, CURLINFO_SIZE_UPLOAD_T, &uploaded) == CURLE_OK)
        #expect(uploaded == curl_off_t(payload.count))
        #expect(try file.contents() == payload)
    }

    @Test func progressCallbackCanAbortATransfer() throws {
        let file = try TemporaryFile(contents: samplePayload(count: 1_000_000))
        defer { file.remove() }

        let handle = try #require(curl_easy_init())
        defer { curl_easy_cleanup(handle) }
        let progress = ProgressLog()
        let discard: curl_write_callback = { _, size, count, _ in size * count }
        let abortOnFirstBytes: curl_xferinfo_callback = { context, _, downloaded, _, _ in
            guard let context else { return 1 }
            let progress = Unmanaged<ProgressLog>.fromOpaque(context).takeUnretainedValue()
            progress.calls += 1
            return downloaded > 0 ? 1 : 0
        }

        #expect(kf_curl_easy_setopt_pointer(handle, CURLOPT_URL, "file://" + file.path) == CURLE_OK)
        // A small buffer makes curl call back several times for one file.
        #expect(kf_curl_easy_setopt_long(handle, CURLOPT_BUFFERSIZE, 16_384) == CURLE_OK)
        #expect(kf_curl_easy_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK)
        #expect(kf_curl_easy_setopt_long(handle, CURLOPT_NOPROGRESS, 0) == CURLE_OK)
        #expect(kf_curl_easy_setopt_xferinfo_callback(handle, CURLOPT_XFERINFOFUNCTION, abortOnFirstBytes) == CURLE_OK)
        #expect(kf_curl_easy_setopt_pointer(handle, CURLOPT_XFERINFODATA, Unmanaged.passUnretained(progress).toOpaque()) == CURLE_OK)

        let result = withExtendedLifetime(progress) { curl_easy_perform(handle) }
        #expect(result == CURLE_ABORTED_BY_CALLBACK)
        #expect(progress.calls >= 1)
        var downloaded: curl_off_t = -1
        #expect(kf_curl_easy_getinfo_off_t(handle, CURLINFO_SIZE_DOWNLOAD_T, &downloaded) == CURLE_OK)
        #expect(downloaded > 0 && downloaded < 1_000_000)
    }
}

/// Where a write callback puts what it receives.
private final class ByteSink {
    var bytes: [UInt8] = []
    var calls = 0
}

/// What a read callback hands to curl, and how far it has got.
private final class ByteSource {
    let bytes: [UInt8]
    var offset = 0
    init(bytes: [UInt8]) { self.bytes = bytes }
}

/// How often a progress callback ran.
private final class ProgressLog {
    var calls = 0
}

/// Deterministic bytes that are not all alike, so a dropped or repeated chunk shows.
private func samplePayload(count: Int) -> [UInt8] {
    var state: UInt32 = 0x9E37_79B9
    return (0..<count).map { _ in
        state ^= state << 13; state ^= state >> 17; state ^= state << 5
        return UInt8(truncatingIfNeeded: state)
    }
}

/// A file under the system temporary folder, made with mkstemp.
private struct TemporaryFile {
    let path: String

    struct IOError: Error { let what: String; let code: Int32 }

    init(contents: [UInt8]) throws {
        var template = Array("/tmp/keyfarm-curl-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw IOError(what: "mkstemp", code: errno) }
        defer { close(fd) }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var written = 0
        while written < contents.count {
            let n = contents[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw IOError(what: "write \(path)", code: errno) }
            written += n
        }
    }

    func contents() throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw IOError(what: "open \(path)", code: errno) }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n >= 0 else { throw IOError(what: "read \(path)", code: errno) }
            if n == 0 { return result }
            result.append(contentsOf: chunk[..<n])
        }
    }

    func remove() { unlink(path) }
}
