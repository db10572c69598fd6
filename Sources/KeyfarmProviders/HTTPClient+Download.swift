import CCurl
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension HTTPClient {
    /// Streams a URL's body into a file, so that the file exists only when it is complete.
    ///
    /// The body goes to a temporary file beside the destination (`.<name>.part-<random>`),
    /// hashed with SHA-256 as it arrives; after a 2xx transfer ends cleanly it is fsynced and
    /// renamed into place, so a reader never sees half a video. On any failure (a status
    /// other than 2xx, a cut-off or timed-out transfer, more than `maxDownloadBytes`, a disk
    /// error) the temporary file is removed and nothing appears at the destination.
    /// `received` is called on this thread with the bytes so far, after every piece of the body.
    public func download(_ url: String, headers: [(String, String)] = [], to destination: String,
                         received: ((Int64) -> Void)? = nil) throws(HTTPError) -> DownloadedFile {
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { destination[..<$0].isEmpty ? "/" : String(destination[..<$0]) } ?? "."
        let name = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        guard !name.isEmpty else { throw .io("the destination \(destination) names a directory, not a file") }
        let temporary = "\(directory)/.\(name).part-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"

        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io("cannot create \(temporary): \(Self.lastError())") }
        var isOpen = true
        var isInPlace = false
        defer {
            if isOpen { close(descriptor) }
            if !isInPlace { unlink(temporary) }
        }

        let request = HTTPRequest(method: "GET", url: url, headers: headers)
        let transfer = HTTPTransfer(sink: .file(descriptor: descriptor), limit: limits.maxDownloadBytes)
        transfer.onReceived = received
        let status = try perform(request, transfer)
        guard (200..<300).contains(status) else {
            throw .unexpectedStatus(status, url: HTTPError.redacted(url))
        }
        var contentType: UnsafeMutablePointer<CChar>?
        _ = kf_curl_easy_getinfo_string(handle, CURLINFO_CONTENT_TYPE, &contentType)
        let mediaType = contentType.map { String(cString: $0) }.flatMap(Self.mediaType)

        guard fsync(descriptor) == 0 else { throw .io("cannot fsync \(temporary): \(Self.lastError())") }
        isOpen = false
        guard close(descriptor) == 0 else { throw .io("cannot close \(temporary): \(Self.lastError())") }
        guard rename(temporary, destination) == 0 else {
            throw .io("cannot rename \(temporary) to \(destination): \(Self.lastError())")
        }
        isInPlace = true
        // Make the rename itself durable; a failure here loses nothing already written.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }

        let digest = transfer.hasher.finalize()
        let file = DownloadedFile(path: destination, bytes: transfer.received,
                                  sha256: digest.map { byte in
                                      let hex = String(byte, radix: 16)
                                      return byte < 16 ? "0" + hex : hex
                                  }.joined(),
                                  mediaType: mediaType)
        logger.debug("downloaded", metadata: [
            "http.url": "\(HTTPError.redacted(url))", "file.path": "\(destination)",
            "file.bytes": "\(file.bytes)", "file.sha256": "\(file.sha256)",
        ])
        return file
    }

    /// `video/mp4` from `Video/MP4; charset=binary`; nil for an empty value.
    static func mediaType(_ contentType: String) -> String? {
        let type = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingWhitespace().lowercased() } ?? ""
        return type.isEmpty ? nil : type
    }

    static func lastError() -> String {
        String(cString: strerror(errno))
    }
}
