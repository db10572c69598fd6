import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CURVE key files: `NAME.pub` holds a public key, `NAME.key` a secret key (mode 0600).
///
/// The format is plain text: lines that are empty or start with `#` are comments, and the rest
/// are `public-key = "<40 Z85 characters>"` or `secret-key = "<40 Z85 characters>"`, each at
/// most once. A `.pub` file has only `public-key`; a `.key` file has `secret-key` and, as
/// `keyfarm keys generate` writes it, the matching `public-key` too. Errors name the file and
/// the line, and never quote a line, so a malformed secret is not echoed to a terminal or a log.
public enum CurveKeyFile {
    /// What went wrong with a key file, in words that name it.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public enum Kind: Sendable { case missing, unreadable, malformed, exposed, exists, unwritable }
        public let path: String
        public let kind: Kind
        public let reason: String

        public var description: String { "\(path): \(reason)" }
    }

    /// Key files larger than this are not key files.
    static let maximumSize = 64 * 1024

    /// A key name: what `keyfarm keys generate NAME` names its files and the allow-list its rows.
    public static func isValidName(_ name: String) -> Bool {
        name.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", options: .regularExpression) != nil
    }

    // MARK: Reading

    /// Reads a public key file (`NAME.pub`); a file holding a secret key is refused, unquoted.
    public static func readPublic(_ path: String) throws(Failure) -> CurvePublicKey {
        let fields = try parse(path, text: try contents(of: path).text)
        if fields["secret-key"] != nil {
            throw Failure(path: path, kind: .malformed, reason: """
                holds a secret key (secret-key = ...): give the public key file instead, the .pub that \
                `keyfarm keys generate` wrote beside it; the secret key stays on its own host
                """)
        }
        guard let field = fields["public-key"] else {
            throw Failure(path: path, kind: .malformed, reason: "no public-key line; expected public-key = \"<40 Z85 characters>\"")
        }
        guard let key = CurvePublicKey(z85: field.value) else {
            throw Failure(path: path, kind: .malformed, reason: "line \(field.line): the public-key is not 40 Z85 characters")
        }
        return key
    }

    /// Reads a secret key file (`NAME.key`), refusing one that users other than its owner's group may read.
    public static func readSecret(_ path: String) throws(Failure) -> CurveSecretKey {
        let (text, mode) = try contents(of: path)
        let fields = try parse(path, text: text)
        guard let field = fields["secret-key"] else {
            throw Failure(path: path, kind: .malformed, reason: """
                no secret-key line; expected secret-key = "<40 Z85 characters>" \
                (a .pub file holds only the public key; give the .key file written beside it)
                """)
        }
        if mode & 0o007 != 0 {
            throw Failure(path: path, kind: .exposed, reason: """
                other users may read this secret key (mode \(String(mode & 0o777, radix: 8))); \
                chmod 600 it (or 640 for a group such as keyfarm), and generate a new key if it may have been copied
                """)
        }
        let secret: CurveSecretKey?
        do {
            secret = try CurveSecretKey.fromZ85(field.value)
        } catch {
            throw Failure(path: path, kind: .unreadable, reason: "\(error)")
        }
        guard let secret else {
            throw Failure(path: path, kind: .malformed, reason: "line \(field.line): the secret-key is not 40 Z85 characters")
        }
        if let field = fields["public-key"], CurvePublicKey(z85: field.value) != secret.publicKey {
            throw Failure(path: path, kind: .malformed,
                          reason: "line \(field.line): the public-key does not belong to the secret-key in this file")
        }
        return secret
    }

    /// The file's text, at most `maximumSize` bytes, and its permission bits.
    private static func contents(of path: String) throws(Failure) -> (text: String, mode: mode_t) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            throw Failure(path: path, kind: code == ENOENT ? .missing : .unreadable,
                          reason: code == ENOENT ? "no such file" : "cannot open: \(String(cString: strerror(code)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw Failure(path: path, kind: .unreadable, reason: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw Failure(path: path, kind: .malformed, reason: "not a regular file")
        }
        guard Int(status.st_size) <= maximumSize else {
            throw Failure(path: path, kind: .malformed, reason: "\(status.st_size) bytes is too large for a key file")
        }
        var bytes = [UInt8](repeating: 0, count: maximumSize + 1)
        var count = 0
        while count < bytes.count {
            let got = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + count, $0.count - count) }
            if got == 0 { break }
            if got < 0 {
                if errno == EINTR { continue }
                throw Failure(path: path, kind: .unreadable, reason: "cannot read: \(String(cString: strerror(errno)))")
            }
            count += got
        }
        guard count <= maximumSize else {
            throw Failure(path: path, kind: .malformed, reason: "too large for a key file")
        }
        guard let text = String(validating: bytes[..<count], as: UTF8.self) else {
            throw Failure(path: path, kind: .malformed, reason: "not UTF-8 text")
        }
        return (text, status.st_mode)
    }

    /// The `name = "value"` lines by name, with their line numbers.
    private static func parse(_ path: String, text: String) throws(Failure) -> [String: (line: Int, value: String)] {
        var fields: [String: (line: Int, value: String)] = [:]
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let number = index + 1
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, ["public-key", "secret-key"].contains(parts[0]) else {
                throw Failure(path: path, kind: .malformed, reason: """
                    line \(number): expected public-key = "<40 Z85 characters>" or secret-key = "...", or a # comment
                    """)
            }
            let quoted = parts[1]
            guard quoted.count >= 2, quoted.hasPrefix("\""), quoted.hasSuffix("\"") else {
                throw Failure(path: path, kind: .malformed, reason: "line \(number): the \(parts[0]) must be in double quotes")
            }
            guard fields[parts[0]] == nil else {
                throw Failure(path: path, kind: .malformed, reason: "line \(number): a second \(parts[0]) line")
            }
            fields[parts[0]] = (number, String(quoted.dropFirst().dropLast()))
        }
        return fields
    }

    // MARK: Writing

    /// The two files of a key pair, as `keyfarm keys generate NAME` writes them.
    public struct Written: Sendable {
        public let secretPath: String
        public let publicPath: String
    }

    /// Writes `NAME.key` (mode 0600 from the moment it exists) and `NAME.pub` in `directory`.
    ///
    /// Each file is written to a temporary name created with O_EXCL and mode 0600, synced, then
    /// linked into place: without `overwrite` the link fails if the file exists (and nothing is
    /// left behind); with it, rename replaces the old file atomically.
    public static func write(_ secret: CurveSecretKey, name: String, directory: String,
                             overwrite: Bool) throws(Failure) -> Written {
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        let written = Written(secretPath: base + name + ".key", publicPath: base + name + ".pub")
        if !overwrite {
            for path in [written.secretPath, written.publicPath] where access(path, F_OK) == 0 {
                throw Failure(path: path, kind: .exists, reason: "already exists; give --force to replace it (and its pair)")
            }
        }
        let secretText = """
            # Keyfarm CURVE secret key "\(name)" (Z85, ZeroMQ RFC 32). Keep it on this host, mode 0600,
            # owned by the account that runs keyfarm: whoever reads it can pose as "\(name)".
            # Give it to keyfarm as --curve-secret-key FILE; never paste it into a command line.
            public-key = "\(secret.publicKey.z85)"
            secret-key = "\(secret.z85)"

            """
        let publicText = """
            # Keyfarm CURVE public key "\(name)" (Z85, ZeroMQ RFC 32). Safe to share: a worker's goes to
            # `keyfarm keys add`, the coordinator's to every worker as --coordinator-public-key FILE.
            public-key = "\(secret.publicKey.z85)"

            """
        try place(Array(secretText.utf8), at: written.secretPath, mode: 0o600, overwrite: overwrite)
        do {
            try place(Array(publicText.utf8), at: written.publicPath, mode: 0o644, overwrite: overwrite)
        } catch {
            // Leave no secret whose public half was never written (it could not be allowed anyway).
            unlink(written.secretPath)
            throw error
        }
        return written
    }

    /// Writes `bytes` to a fresh temporary file with exactly `mode`, then moves it to `path`.
    private static func place(_ bytes: [UInt8], at path: String, mode: mode_t, overwrite: Bool) throws(Failure) {
        let temporary = path + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        func failure(_ doing: String, _ code: Int32 = errno) -> Failure {
            Failure(path: path, kind: code == EEXIST ? .exists : .unwritable,
                    reason: code == EEXIST ? "already exists; give --force to replace it (and its pair)"
                                           : "cannot \(doing): \(String(cString: strerror(code)))")
        }
        // 0600 at creation: the umask can only take bits away, and fchmod sets exactly `mode` after.
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw failure("create a file in its directory") }
        var closed = false
        defer {
            if !closed { close(descriptor) }
            unlink(temporary)
        }
        guard fchmod(descriptor, mode) == 0 else { throw failure("set its mode") }
        var offset = 0
        while offset < bytes.count {
            let wrote = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if wrote < 0 {
                if errno == EINTR { continue }
                throw failure("write")
            }
            offset += wrote
        }
        guard fsync(descriptor) == 0 else { throw failure("sync") }
        closed = true
        guard close(descriptor) == 0 else { throw failure("close") }
        if overwrite {
            guard rename(temporary, path) == 0 else { throw failure("replace") }
        } else {
            guard link(temporary, path) == 0 else { throw failure("create") }
        }
    }
}
