/// A file that `HTTPClient.download` wrote completely, with what a worker reports about it.
public struct DownloadedFile: Sendable, Equatable {
    /// Where the file now is: the destination the caller gave.
    public var path: String
    /// Its length in bytes.
    public var bytes: Int64
    /// The SHA-256 of its contents, as lower-case hex.
    public var sha256: String
    /// The media type the server declared (`video/mp4`), without parameters, if any.
    public var mediaType: String?

    public init(path: String, bytes: Int64, sha256: String, mediaType: String?) {
        self.path = path
        self.bytes = bytes
        self.sha256 = sha256
        self.mediaType = mediaType
    }
}
