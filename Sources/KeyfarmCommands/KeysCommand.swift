import ArgumentParser
import Foundation
import KeyfarmStore
import KeyfarmWire

/// `keyfarm keys`: CURVE key pairs, and the worker keys a coordinator with CURVE admits.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make CURVE key pairs and keep the list of worker keys the coordinator admits.",
        discussion: """
            With `keyfarm coordinator --curve-secret-key FILE`, the coordinator speaks ZeroMQ CURVE \
            (ZeroMQ RFC 26): traffic is encrypted, and a worker is admitted only if it uses CURVE \
            with the coordinator's public key and its own public key is on this list. The list lives \
            in the database (keyfarm.worker_keys); a running coordinator reloads it on every change, \
            so `add` and `remove` apply to the next connection without a restart, and `remove` also \
            cuts off a worker connected with the key.

            Set-up: `keyfarm keys generate coordinator` on the coordinator host, `keyfarm keys \
            generate render-07` on each worker host, `keyfarm keys add render-07.pub` from anywhere \
            with the database, and copy coordinator.pub to every worker. Secret keys (.key) never \
            leave their host and are only ever read from files; public keys (.pub) are safe to share.

            Key files are text: `#` comment lines, then public-key = "<40 Z85 characters>" (and in a \
            .key file, secret-key = "..."). See proto/PROTOCOL.md.
            """,
        subcommands: [Generate.self, Add.self, Remove.self, List.self],
        defaultSubcommand: List.self)

    // MARK: Reading key files for any command

    /// The exit status and message for a key file that cannot be used.
    static func failure(_ failure: CurveKeyFile.Failure, flag: String?) -> CommandFailure {
        let status: Int32 = switch failure.kind {
        case .missing, .unreadable: ExitStatus.noInput
        case .malformed, .exposed, .exists: ExitStatus.invalidData
        case .unwritable: ExitStatus.failure
        }
        return CommandFailure((flag.map { "\($0): " } ?? "") + failure.description, status: status)
    }

    static func readSecret(_ path: String, flag: String) throws(CommandFailure) -> CurveSecretKey {
        do {
            return try CurveKeyFile.readSecret(path)
        } catch {
            throw failure(error, flag: flag)
        }
    }

    static func readPublic(_ path: String, flag: String?) throws(CommandFailure) -> CurvePublicKey {
        do {
            return try CurveKeyFile.readPublic(path)
        } catch {
            throw failure(error, flag: flag)
        }
    }

    static let nameRule = "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"

    // MARK: Subcommands

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate",
            abstract: "Write a new CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub.",
            discussion: """
                Run it on the host that will use the key, as the account that runs keyfarm there (or \
                chown the .key to it afterwards), so the secret never travels. NAME.key is created with \
                mode 0600 from its first byte and is never readable by other users; NAME.pub holds only \
                the public key. Existing files are left alone unless --force is given. Nothing is \
                written to the database: allow a worker's key with `keyfarm keys add NAME.pub`.

                Example: keyfarm keys generate render-07 --directory /etc/keyfarm/keys
                """)

        @Argument(help: ArgumentHelp("The key's name, e.g. the worker's host name or `coordinator`.", valueName: "name"))
        var name: String

        @Option(help: ArgumentHelp("Where to write the two files (default: the current directory).", valueName: "dir"))
        var directory: String = "."

        @Flag(help: "Replace NAME.key and NAME.pub if they exist.")
        var force = false

        func run() throws {
            try reportingFailures {
                guard CurveKeyFile.isValidName(name) else {
                    throw CommandFailure("name: \(name.debugDescription) is not a key name (\(KeysCommand.nameRule))",
                                         status: ExitStatus.invalidData)
                }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw CommandFailure("--directory: \(directory): no such directory", status: ExitStatus.noInput)
                }
                let secret = try Curve.generate()
                let written: CurveKeyFile.Written
                do {
                    written = try CurveKeyFile.write(secret, name: name, directory: directory, overwrite: force)
                } catch let failure as CurveKeyFile.Failure {
                    throw KeysCommand.failure(failure, flag: nil)
                }
                Console.current.print("wrote \(written.secretPath) (secret key, mode 0600: keep it on this host)")
                Console.current.print("wrote \(written.publicPath) (public key \(secret.publicKey))")
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Allow a worker's public key (its .pub file) on coordinators running with CURVE.",
            discussion: """
                Reads the public key from FILE, never from the command line, and refuses a secret key \
                file. Running coordinators admit the key from the worker's next handshake.

                Example: keyfarm keys add render-07.pub --comment "rack 3, added for ticket 1234"
                """)

        @Argument(help: ArgumentHelp("The worker's public key file, as `keyfarm keys generate` wrote it.", valueName: "file.pub"))
        var file: String

        @Option(help: ArgumentHelp("The name to list it under (default: the file's name without .pub).", valueName: "name"))
        var name: String?

        @Option(help: ArgumentHelp("A note for `keyfarm keys list`: whose key, why, until when.", valueName: "text"))
        var comment: String = ""

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        /// The name a key file gives when --name is not: its base name without `.pub`.
        static func defaultName(for path: String) -> String {
            let base = (path as NSString).lastPathComponent
            return base.hasSuffix(".pub") ? String(base.dropLast(4)) : base
        }

        func run() throws {
            try reportingFailures {
                let keyName = name ?? Self.defaultName(for: file)
                guard CurveKeyFile.isValidName(keyName) else {
                    throw CommandFailure("\(name == nil ? "the name from \(file)" : "--name"): \(keyName.debugDescription) is not a key name (\(KeysCommand.nameRule)); give --name",
                                         status: ExitStatus.invalidData)
                }
                guard comment.count <= 1000, !comment.contains(where: \.isNewline) else {
                    throw CommandFailure("--comment: at most 1000 characters on one line", status: ExitStatus.invalidData)
                }
                let key = try KeysCommand.readPublic(file, flag: nil)
                let store = try database.openStore(logger: try common.logger())
                do {
                    try store.addWorkerKey(name: keyName, publicKey: key.z85, comment: comment)
                } catch let conflict as WorkerKeyConflict {
                    throw CommandFailure("\(file): \(conflict); nothing was changed", status: ExitStatus.invalidData)
                }
                Console.current.print("allowed worker key \(keyName) (\(key)); coordinators with CURVE admit it from its next connection")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Take a worker key off the list, by its name or its public key.",
            discussion: """
                Running coordinators refuse the key from its next handshake, and cut off a worker \
                connected with it at once: its running jobs are stopped and go to other workers.
                """)

        @Argument(help: ArgumentHelp("The key's name as `keyfarm keys list` shows it, or its 40-character public key (one that starts with \"-\" goes after `--`: `keyfarm keys remove -- -xY...`).",
                                     valueName: "name-or-key"))
        var key: String

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        func run() throws {
            try reportingFailures {
                let store = try database.openStore(logger: try common.logger())
                guard let removed = try store.removeWorkerKey(key) else {
                    throw CommandFailure("no allowed worker key is named or is \(key.debugDescription); see `keyfarm keys list`",
                                         status: ExitStatus.noInput)
                }
                Console.current.print("removed worker key \(removed.name) (\(removed.publicKey)); coordinators cut off workers connected with it and refuse it from their next connection")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the allowed worker keys.")
        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var common: CommonOptions

        struct Entry: Encodable {
            var name: String
            var public_key: String
            var comment: String
            var added_at: Date
            var added_by: String
        }

        func run() throws {
            try reportingFailures {
                let store = try database.openStore(logger: try common.logger())
                let keys = try store.workerKeys()
                if json {
                    try printJSON(keys.map {
                        Entry(name: $0.name, public_key: $0.publicKey, comment: $0.comment, added_at: $0.addedAt, added_by: $0.addedBy)
                    })
                    return
                }
                if keys.isEmpty {
                    Console.current.print("no worker keys allowed; a coordinator with CURVE admits no worker (`keyfarm keys add FILE.pub`)")
                    return
                }
                let formatter = ISO8601DateFormatter()
                var table = TextTable(["NAME", "PUBLIC KEY", "ADDED", "BY", "COMMENT"])
                for key in keys {
                    table.add([key.name, key.publicKey, formatter.string(from: key.addedAt), key.addedBy, key.comment])
                }
                Console.current.write(table.render() + "\n")
            }
        }
    }
}
