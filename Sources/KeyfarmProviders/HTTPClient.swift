import CCurl
import Foundation
import KeyfarmCore
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends HTTP requests and downloads files for the provider adapters, over one libcurl easy handle.
///
/// One client per thread: a curl easy handle must never be used by two threads at once, so the
/// class is deliberately not `Sendable`. Keeping one handle lets consecutive requests reuse the
/// connection. Every call blocks the calling thread until the transfer ends or a limit in
/// `Limits` stops it; call it from an engine thread, never from an actor or a task on the
/// cooperative pool. TLS peers and host names are always verified, only http and https are
/// spoken (redirects included), and no signal handlers are used (`CURLOPT_NOSIGNAL`). curl
/// drops a custom `Authorization` header when a redirect leads to another host.
public final class HTTPClient {
    /// The bounds on every transfer: time, redirects and body sizes.
    public struct Limits: Sendable, Equatable {
        /// How long connecting (TCP and TLS) may take.
        public var connectTimeout: Duration
        /// How long a whole request may take, connection and body included.
        public var totalTimeout: Duration
        /// How many redirects are followed before `HTTPError.tooManyRedirects`.
        public var maxRedirects: Int
        /// The longest body `send` keeps in memory.
        public var maxResponseBytes: Int
        /// The longest file `download` writes.
        public var maxDownloadBytes: Int64

        public init(connectTimeout: Duration = .seconds(10), totalTimeout: Duration = .seconds(60),
                    maxRedirects: Int = 5, maxResponseBytes: Int = 16 << 20, maxDownloadBytes: Int64 = 2 << 30) {
            self.connectTimeout = connectTimeout
            self.totalTimeout = totalTimeout
            self.maxRedirects = maxRedirects
            self.maxResponseBytes = maxResponseBytes
            self.maxDownloadBytes = maxDownloadBytes
        }
    }

    /// The Keyfarm version the User-Agent names.
    public static let version = KeyfarmVersion.current
    /// The User-Agent header sent with every request.
    public static let userAgent = "keyfarm/\(version)"

    /// curl_global_init is not thread-safe in every libcurl: a `static let` runs it exactly once.
    static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_ALL))

    /// The bounds applied to every transfer of this client.
    public let limits: Limits
    let logger: Logger
    /// The easy handle (`CURL *`), reset before each transfer.
    let handle: UnsafeMutableRawPointer
    /// curl's CURLOPT_ERRORBUFFER: the detailed message of the last failure.
    private let errorBuffer: UnsafeMutablePointer<CChar>

    public init(limits: Limits = Limits(), logger: Logger) throws(HTTPError) {
        guard Self.globalInit == CURLE_OK else {
            throw .curl(code: Int(Self.globalInit.rawValue), message: "curl_global_init failed")
        }
        guard let handle = curl_easy_init() else {
            throw .curl(code: -1, message: "curl_easy_init failed")
        }
        self.limits = limits
        self.logger = logger
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Sends a request and returns the final response after redirects, whatever its status.
    ///
    /// Only failures to get a response throw; a 4xx or 5xx is a response for
    /// `ProviderErrorClassifier` to judge. `retryAfter` is filled from `Retry-After`.
    public func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let transfer = HTTPTransfer(sink: .memory, limit: Int64(limits.maxResponseBytes))
        let status = try perform(request, transfer)
        var response = HTTPResponse(status: status, headers: transfer.headers, body: transfer.body)
        response.retryAfter = response.header("retry-after").flatMap { RetryAfter.parse($0, now: Date()) }
        return response
    }

    /// Runs one transfer to the end and returns the final status; throws when there is none.
    func perform(_ request: HTTPRequest, _ transfer: HTTPTransfer) throws(HTTPError) -> Int {
        try Self.validate(request)
        curl_easy_reset(handle)
        errorBuffer[0] = 0

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers {
            // "Name;" is curl's spelling of a header with an empty value.
            headerList = curl_slist_append(headerList, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        // No "Expect: 100-continue" round trip before large bodies.
        headerList = curl_slist_append(headerList, "Expect:")

        // curl does not copy CURLOPT_POSTFIELDS; this copy outlives the transfer.
        let body = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, request.body?.count ?? 0), alignment: 1)
        defer { body.deallocate() }
        if let bytes = request.body { bytes.withUnsafeBytes { body.copyMemory(from: $0) } }

        let context = Unmanaged.passUnretained(transfer).toOpaque()
        let onHeader: curl_write_callback = { buffer, size, count, context in
            guard let buffer, let context else { return 0 }
            let transfer = Unmanaged<HTTPTransfer>.fromOpaque(context).takeUnretainedValue()
            transfer.takeHeaderLine(UnsafeRawBufferPointer(start: buffer, count: size * count))
            return size * count
        }
        let onBody: curl_write_callback = { buffer, size, count, context in
            guard let buffer, let context else { return 0 }
            let transfer = Unmanaged<HTTPTransfer>.fromOpaque(context).takeUnretainedValue()
            return transfer.takeBody(UnsafeRawBufferPointer(start: buffer, count: size * count))
        }

        try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer), request)
        try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_URL, request.url), request)
        try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_PROTOCOLS_STR, "http,https"), request)
        try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"), request)
        try check(kf_curl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1), request)
        try check(kf_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1), request)
        try check(kf_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2), request)
        try check(kf_curl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, limits.connectTimeout.curlMilliseconds), request)
        try check(kf_curl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, limits.totalTimeout.curlMilliseconds), request)
        try check(kf_curl_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, limits.maxRedirects > 0 ? 1 : 0), request)
        try check(kf_curl_easy_setopt_long(handle, CURLOPT_MAXREDIRS, max(0, limits.maxRedirects)), request)
        // Refuses at once a body whose Content-Length is over the limit.
        try check(kf_curl_easy_setopt_off_t(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(transfer.limit)), request)
        // "" offers every encoding this libcurl can decode (gzip, deflate, ...).
        try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_ACCEPT_ENCODING, ""), request)
        try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_USERAGENT, Self.userAgent), request)
        try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_HTTPHEADER, headerList), request)
        try check(kf_curl_easy_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION, onHeader), request)
        try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, context), request)
        try check(kf_curl_easy_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, onBody), request)
        try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context), request)

        switch (request.method, request.body) {
        case ("GET", nil):
            try check(kf_curl_easy_setopt_long(handle, CURLOPT_HTTPGET, 1), request)
        case (_, let bytes?):
            try check(kf_curl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count)), request)
            try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_POSTFIELDS, body.baseAddress), request)
            if request.method != "POST" {
                try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_CUSTOMREQUEST, request.method), request)
            }
        case ("POST", nil):
            try check(kf_curl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, 0), request)
            try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_POSTFIELDS, body.baseAddress), request)
        case (let method, nil):
            try check(kf_curl_easy_setopt_pointer(handle, CURLOPT_CUSTOMREQUEST, method), request)
        }

        let started = ContinuousClock.now
        let code = withExtendedLifetime(transfer) { curl_easy_perform(handle) }
        let elapsed = ContinuousClock.now - started
        guard code == CURLE_OK else {
            let error = failure(code, transfer, request)
            logger.debug("HTTP request failed", metadata: [
                "http.method": "\(request.method)", "http.url": "\(HTTPError.redacted(request.url))",
                "http.error": "\(error)", "http.elapsed_ms": "\(elapsed.curlMilliseconds)",
            ])
            throw error
        }
        var status = 0
        _ = kf_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        logger.debug("HTTP request done", metadata: [
            "http.method": "\(request.method)", "http.url": "\(HTTPError.redacted(request.url))",
            "http.status": "\(status)", "http.bytes": "\(transfer.received)",
            "http.elapsed_ms": "\(elapsed.curlMilliseconds)",
        ])
        return status
    }

    /// Rejects what would let a caller smuggle a line into the request head.
    private static func validate(_ request: HTTPRequest) throws(HTTPError) {
        guard !request.method.isEmpty, request.method.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            throw .invalidRequest("the method must be an upper-case token such as GET, found \(request.method.debugDescription)")
        }
        let forbidden: Set<UInt8> = [0, 10, 13]
        for (index, (name, value)) in request.headers.enumerated() {
            let nameIsToken = !name.isEmpty && name.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }
            guard nameIsToken else {
                throw .invalidRequest("header \(index + 1) has an invalid name")
            }
            // Never quote the value: it may be a key.
            guard !value.utf8.contains(where: forbidden.contains) else {
                throw .invalidRequest("header \(name) has a line break or NUL in its value")
            }
        }
    }

    private func check(_ code: CURLcode, _ request: HTTPRequest) throws(HTTPError) {
        guard code == CURLE_OK else { throw failure(code, nil, request) }
    }

    /// Maps a curl failure to an `HTTPError` naming the request without its query or headers.
    func failure(_ code: CURLcode, _ transfer: HTTPTransfer?, _ request: HTTPRequest) -> HTTPError {
        let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        let message = "\(request.method) \(HTTPError.redacted(request.url)): \(detail)"
        // A request that changes something, sent and then unanswered: the server may have acted.
        if request.method != "GET" && request.method != "HEAD",
           [CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_SEND_ERROR].contains(code) {
            var sent = 0
            _ = kf_curl_easy_getinfo_long(handle, CURLINFO_REQUEST_SIZE, &sent)
            if sent > 0 { return .answerLost(message) }
        }
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout(message)
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY,
             CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING:
            return .connectionFailed(message)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND,
             CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_SHUTDOWN_FAILED,
             CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
             CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT, CURLE_USE_SSL_FAILED:
            return .tls(message)
        case CURLE_TOO_MANY_REDIRECTS:
            return .tooManyRedirects
        case CURLE_FILESIZE_EXCEEDED:
            return .responseTooLarge(limit: transfer?.limit ?? 0)
        case CURLE_WRITE_ERROR where transfer?.exceededLimit == true:
            return .responseTooLarge(limit: transfer?.limit ?? 0)
        case CURLE_WRITE_ERROR where transfer?.fileError != nil:
            return .io("\(message): \(transfer?.fileError ?? "")")
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            return .invalidURL(message)
        default:
            return .curl(code: Int(code.rawValue), message: message)
        }
    }
}

@available(*, unavailable, message: "a curl easy handle belongs to one thread; make one HTTPClient per thread")
extension HTTPClient: Sendable {}

extension Duration {
    /// Whole milliseconds for a curl `long` option, at least 1 (curl reads 0 as "no limit").
    var curlMilliseconds: Int {
        let (seconds, attoseconds) = components
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return Int.max }
        return max(1, Int(milliseconds.partialValue) + Int(attoseconds / 1_000_000_000_000_000))
    }
}
