import ArgumentParser
import Foundation
import KeyfarmCoordinator
import KeyfarmCore
import KeyfarmMedia
import KeyfarmProcess
import KeyfarmProviders
import KeyfarmStore
import KeyfarmWire
import KeyfarmWorker
import Logging

/// `keyfarm coordinator`: the dispatcher daemon.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: hand ready jobs to workers over ZeroMQ and record their results.",
        discussion: """
            Binds a ZeroMQ ROUTER socket that workers connect to (see proto/PROTOCOL.md), claims \
            ready jobs from PostgreSQL for their free slots, and records every outcome in one \
            transaction. A worker silent for --liveness heartbeats is lost: its attempts become \
            `lost` and its jobs are requeued at once. On start-up it waits one liveness window for \
            workers to reclaim the jobs the database says they hold. An attempt that runs past its \
            engine's --attempt-timeout, or whose worker reports no progress for --stall-timeout, is \
            cancelled on its worker and retried (a provider request it submitted is resumed, never \
            paid for twice); the attempt shows error class `timeout` or `stalled`. Attempt log \
            tails older than --log-retention are emptied hourly. A lost database connection is \
            retried (after 0.5 s, 1 s, then every 2 s) while the workers wait; they are taken back \
            as they say HELLO again. A --database-url with several hosts and \
            target_session_attrs=read-write follows a PostgreSQL primary that moved. Under systemd \
            (NOTIFY_SOCKET) it reports READY, STATUS and watchdog pings itself. SIGTERM or SIGINT stops it.

            With --curve-secret-key the ROUTER speaks ZeroMQ CURVE (encrypted and authenticated): \
            only workers that use CURVE with this coordinator's public key, and whose own public key \
            is on the allow-list (`keyfarm keys add`), are admitted. Changes to the list apply to new \
            connections without a restart. A worker refused for its key, or one speaking plain text, \
            gets no job and is logged once. See proto/PROTOCOL.md and deploy/README.md.

            High availability: run any number of coordinators against one database, each with its \
            own --bind (and --advertise). One leads: it holds a lease row in PostgreSQL, renewed \
            every quarter of --leader-lease, at an epoch that grows with every takeover, and every \
            transaction it commits first checks that epoch, so a leader that was paused or cut off \
            commits nothing once another has taken over: it steps down. The others stand by, \
            answer every worker with DISCONNECT "standby" naming the leader's advertised endpoint, \
            and take an expired lease within a quarter of --leader-lease; the new leader adopts \
            the running attempts as their workers say HELLO (provider requests are resumed, never \
            sent again). Give workers every coordinator: `keyfarm worker --connect tcp://a:5555,tcp://b:5555`. \
            `keyfarm coordinators` shows who leads.
            """)

    @Option(help: ArgumentHelp("The endpoint to bind, e.g. tcp://0.0.0.0:5555.", valueName: "endpoint"))
    var bind: String = "tcp://0.0.0.0:5555"

    @Option(help: ArgumentHelp("""
        The endpoint workers reach this coordinator at, e.g. tcp://coord-b.example.com:5555: \
        standbys name the leader's to workers that reach them. Default: the endpoint bound \
        (set it when binding 0.0.0.0).
        """, valueName: "endpoint"))
    var advertise: String?

    @Option(name: .customLong("leader-lease"), help: ArgumentHelp("""
        Seconds the leader's lease in PostgreSQL lasts without renewal (0.2 to 60). The leader \
        renews it every quarter of it; a standby takes an expired one within a quarter of it. \
        Every coordinator of a farm should use the same.
        """, valueName: "seconds"))
    var leaderLease: Double = 2

    @Option(name: .customLong("curve-secret-key"), help: ArgumentHelp(
        "Turn on CURVE with this coordinator's secret key file (from `keyfarm keys generate`; mode 0600).",
        discussion: "Workers then need its .pub as --coordinator-public-key. The key is read from the file, never from the command line.",
        valueName: "file"))
    var curveSecretKey: String?

    @Option(name: .customLong("heartbeat-ms"), help: ArgumentHelp("Heartbeat interval in milliseconds.", valueName: "ms"))
    var heartbeatMilliseconds: Int = 1000

    @Option(help: ArgumentHelp("Missed heartbeats after which a worker is lost.", valueName: "count"))
    var liveness: Int = 3

    @Option(name: .customLong("attempt-timeout"), help: ArgumentHelp("""
        How long an attempt may run before it is cancelled and retried: ENGINE=DURATION for one engine \
        (interpolate, stitch, smoke, luma/ray-2, fal/<model>, or a whole provider: luma, fal/*), or \
        DURATION for every other engine. Repeatable; applied after $KEYFARM_ATTEMPT_TIMEOUTS (the same \
        entries, separated by commas or spaces). Durations: 90s, 10m, 2h, 1h30m or seconds; 0 is no \
        limit. Default: 2h.
        """, valueName: "[engine=]duration"))
    var attemptTimeouts: [String] = []

    @Option(name: .customLong("stall-timeout"), help: ArgumentHelp("""
        How long an attempt may go without reporting progress before it is cancelled and retried \
        (workers report at least once a minute while an engine renders or polls its provider); 0 turns \
        this off. Default: $KEYFARM_STALL_TIMEOUT, else 5m.
        """, valueName: "duration"))
    var stallTimeout: String?

    @Option(name: .customLong("log-retention"), help: ArgumentHelp("""
        How long to keep each attempt's worker-side log tail (`keyfarm logs`) before emptying it; \
        the attempt's record stays, and `keyfarm logs` says when its log was pruned. 0 keeps logs \
        for ever. Durations as for --stall-timeout, up to 3650d. Default: $KEYFARM_LOG_RETENTION, \
        else 30d.
        """, valueName: "duration"))
    var logRetention: String?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        _ = try retention(environment: CommandEnvironment.current)
        guard (10...60_000).contains(heartbeatMilliseconds) else {
            throw ValidationError("--heartbeat-ms must be between 10 and 60000")
        }
        guard (1...100).contains(liveness) else { throw ValidationError("--liveness must be between 1 and 100") }
        guard (0.2...60).contains(leaderLease) else { throw ValidationError("--leader-lease must be between 0.2 and 60 seconds") }
        if let advertise, !Self.isConnectable(advertise) {
            throw ValidationError("--advertise: \(advertise.debugDescription) is not an endpoint workers can connect to (write tcp://host:port, without * or 0.0.0.0)")
        }
        _ = try timeouts(environment: CommandEnvironment.current)
    }

    /// Whether workers could connect to `endpoint`: tcp://host:port with a real host and port, or ipc://.
    static func isConnectable(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") { return endpoint.count > 6 }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let address = endpoint.dropFirst(6)
        guard let colon = address.lastIndex(of: ":") else { return false }
        let host = address[..<colon]
        let port = address[address.index(after: colon)...]
        return !host.isEmpty && host != "*" && host != "0.0.0.0" && host != "[::]" && UInt16(port).map { $0 > 0 } == true
    }

    /// The timeouts the environment and the options set, options last.
    func timeouts(environment: [String: String]) throws -> AttemptTimeouts {
        var timeouts = AttemptTimeouts()
        var source = "KEYFARM_ATTEMPT_TIMEOUTS"
        do {
            if let list = environment["KEYFARM_ATTEMPT_TIMEOUTS"] { try timeouts.applyList(list) }
            source = "KEYFARM_STALL_TIMEOUT"
            if let stall = environment["KEYFARM_STALL_TIMEOUT"], !stall.isEmpty { try timeouts.applyStall(stall) }
            source = "--attempt-timeout"
            for entry in attemptTimeouts { try timeouts.apply(entry) }
            source = "--stall-timeout"
            if let stallTimeout { try timeouts.applyStall(stallTimeout) }
        } catch {
            throw ValidationError("\(source): \(error)")
        }
        return timeouts
    }

    /// The log retention in seconds (nil: for ever): --log-retention, else $KEYFARM_LOG_RETENTION, else 30 days.
    func retention(environment: [String: String]) throws -> Double? {
        let (text, source): (String, String) = if let logRetention {
            (logRetention, "--log-retention")
        } else if let variable = environment["KEYFARM_LOG_RETENTION"], !variable.isEmpty {
            (variable, "KEYFARM_LOG_RETENTION")
        } else {
            ("30d", "the default")
        }
        guard let seconds = DurationText.seconds(text, upTo: 3650 * 86_400) else {
            throw ValidationError("\(source): \"\(text)\" is not a duration such as 30d, 12h or 0 (at most 3650d)")
        }
        return seconds > 0 ? seconds : nil
    }

    func run() throws {
        try reportingFailures {
            let logger = try common.logger(defaultLevel: "info")
            // Every worker connection takes a descriptor: as many as the hard limit allows.
            let descriptors = DescriptorLimit.raiseToHardLimit()
            let secretKey = try curveSecretKey.map { try KeysCommand.readSecret($0, flag: "--curve-secret-key") }
            let store = try database.openStore(logger: logger)
            var configuration = CoordinatorConfiguration(bind: bind)
            configuration.advertise = advertise
            configuration.leaderLease = leaderLease
            configuration.heartbeatInterval = Double(heartbeatMilliseconds) / 1000
            configuration.liveness = liveness
            configuration.curveSecretKey = secretKey
            configuration.timeouts = try timeouts(environment: CommandEnvironment.current)
            configuration.logRetention = try retention(environment: CommandEnvironment.current)
            let coordinator: Coordinator
            do {
                coordinator = try Coordinator(configuration: configuration, store: store, logger: logger)
            } catch {
                throw CommandFailure("cannot bind \(bind): \(error)", status: ExitStatus.unavailable)
            }
            let stop = StopSignal()
            stop.installAsHandler()
            let notifier = SystemdNotifier(environment: CommandEnvironment.current)
            var watchdog = Watchdog(notifier: notifier)
            Console.current.printError("keyfarm: coordinator listening on \(coordinator.endpoint)"
                + (advertise.map { " (advertised as \($0))" } ?? "")
                + (secretKey.map { " with CURVE (public key \($0.publicKey))" } ?? "")
                + "; open files limit \(descriptors)")
            try coordinator.run(until: stop, onReady: {
                notifier.ready(status: "listening on \(coordinator.endpoint)")
            }, onRoleChange: { role in
                notifier.status(role)
            }, onTurn: { watchdog.ping() })
            // A leader's last words to its workers ("standby": go to the next coordinator) are
            // queued on a closed socket with a linger; terminating the context is what waits for
            // them to leave. A process that exits first drops them.
            ZMQContext.shared.terminate(waitingAtMost: .milliseconds(1500))
            notifier.stopping(status: "stopped")
        }
    }
}

/// `keyfarm worker`: the worker daemon.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker: take jobs from the coordinator and render them, up to --slots at once.",
        discussion: """
            Connects a ZeroMQ DEALER socket to the coordinator, says HELLO with its engines and \
            slots, heartbeats both ways, and reconnects with back-off (1 s doubling to 32 s) when \
            the coordinator goes quiet. Given several coordinators (--connect a,b), it goes where \
            a standby's answer says the leader is, and when it loses its coordinator tries the \
            others at once before backing off. Each job runs on its own thread. Results are kept until the \
            coordinator acknowledges them, so neither side's crash loses one. SIGTERM drains: no new \
            work, running jobs finish (long provider jobs are handed back), goodbye, exit 0. Under \
            systemd (NOTIFY_SOCKET) it reports READY, STATUS, STOPPING and watchdog pings itself.

            A coordinator with CURVE on needs --curve-secret-key (this worker's key file, from \
            `keyfarm keys generate`; its public key must be on the coordinator's allow-list) and \
            --coordinator-public-key (the coordinator's .pub file), both or neither.
            """)

    @Option(help: ArgumentHelp("""
        The coordinator's endpoint, e.g. tcp://farm:5555, or every coordinator's, comma-separated \
        (tcp://coord-a:5555,tcp://coord-b:5555): tried in order; a standby's answer names the \
        leader, which the worker follows, and a lost coordinator is replaced by the next at once.
        """, valueName: "endpoints"))
    var connect: String

    @Option(help: ArgumentHelp("This worker's name, unique in the farm (default: the host name).", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Jobs run at once.", valueName: "count"))
    var slots: Int = 1

    @Option(name: .customLong("curve-secret-key"), help: ArgumentHelp(
        "This worker's CURVE secret key file (mode 0600), for a coordinator with CURVE on.", valueName: "file"))
    var curveSecretKey: String?

    @Option(name: .customLong("coordinator-public-key"), help: ArgumentHelp(
        "The coordinator's CURVE public key file (its .pub), with --curve-secret-key.", valueName: "file"))
    var coordinatorPublicKey: String?

    @Option(help: ArgumentHelp("""
        Capabilities offered, comma-separated: smoke, interpolate, stitch (needs ffmpeg and ffprobe), provider engines (luma/ray-2, luma/ray-flash-2, \
        luma/ray-3.2, fal/<model>, wavespeed/<model>) or a whole provider (luma/*, fal/*, wavespeed/*). \
        A provider engine needs that provider's key in the environment (LUMA_API_KEY, FAL_KEY, \
        WAVESPEED_API_KEY, or the same names with _FILE naming a file that holds it).
        """, valueName: "list"))
    var engines: String = "smoke"

    @Option(name: .customLong("serve-artifacts"), help: ArgumentHelp("""
        Serve local keyframes to providers that fetch images by URL (Luma Dream Machine, fal): \
        listen on this IPv4 address, and hand out expiring HMAC-signed URLs under --public-url.
        """, valueName: "host:port"))
    var serveArtifacts: String?

    @Option(name: .customLong("public-url"), help: ArgumentHelp(
        "The URL providers reach --serve-artifacts at, e.g. https://worker-3.example.com:8443.", valueName: "url"))
    var publicURL: String?

    @Option(name: .customLong("poll-ms"), help: ArgumentHelp(
        "The first wait between polls of a provider generation; it doubles up to 20 s.", valueName: "ms"))
    var pollMilliseconds: Int = 2000

    @Option(name: .customLong("poll-deadline"), help: ArgumentHelp("""
        How long one attempt polls a provider generation that neither completes nor fails (90s, 30m, 2h); \
        past it the attempt fails as transient and the next one resumes the same generation.
        """, valueName: "duration"))
    var pollDeadline: String = "2h"

    @Option(name: .customLong("api-timeout"), help: ArgumentHelp("""
        How long one call to a provider's API may take before it is given up (20s, 1m). A create \
        given up after it was sent is never made again blind: it is looked for in the provider's \
        list of generations where the API has one, else its estimate is booked as possibly spent.
        """, valueName: "duration"))
    var apiTimeout: String = "60s"

    @Option(name: .customLong("encode-preset"), help: ArgumentHelp("""
        How hard the stitcher's encoders work: an x264 preset (\(Self.encodePresets.joined(separator: ", "))). \
        MP4s use it as named; HDR10 masters use x265's, one step faster at the default (medium: fast). \
        Faster presets make larger files at the same quality (CRF 18); ProRes and EXR are unaffected.
        """, valueName: "preset"))
    var encodePreset: String = "medium"

    @Option(help: ArgumentHelp("The farm's shared storage root (default: $KEYFARM_STORAGE, else under the user's data home).",
                               valueName: "dir"))
    var storage: String?

    @Option(name: .customLong("heartbeat-ms"), help: ArgumentHelp("Heartbeat interval until the coordinator sets one.", valueName: "ms"))
    var heartbeatMilliseconds: Int = 1000

    @Option(name: .customLong("drain-timeout"), help: ArgumentHelp("Seconds a SIGTERM drain may take.", valueName: "seconds"))
    var drainTimeout: Double = 900

    @OptionGroup var common: CommonOptions

    /// The capabilities this build has engines for.
    static let renderable = ["smoke", "interpolate", "stitch"]
    /// x264's (and x265's) presets, fastest first.
    static let encodePresets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]

    func validate() throws {
        guard (1...1024).contains(slots) else { throw ValidationError("--slots must be between 1 and 1024") }
        let endpoints = connect.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if let bad = endpoints.first(where: { !CoordinatorCommand.isConnectable($0) }) {
            throw ValidationError("--connect: \(bad.debugDescription) is not an endpoint to connect to (write tcp://host:port, several separated by commas)")
        }
        guard (10...60_000).contains(heartbeatMilliseconds) else {
            throw ValidationError("--heartbeat-ms must be between 10 and 60000")
        }
        if let name, name.isEmpty || name.contains("/") || name.count > 128 {
            throw ValidationError("--name must be 1 to 128 characters without '/'")
        }
        let offered = engines.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let unknown = offered.filter { !Self.renderable.contains($0) && Self.provider(of: $0) == nil }
        guard unknown.isEmpty, !offered.isEmpty else {
            throw ValidationError("--engines: \(unknown.isEmpty ? "empty" : unknown.joined(separator: ", ")) cannot be rendered by this build (it renders: \(Self.renderable.joined(separator: ", ")), luma/ray-2, luma/ray-flash-2, luma/ray-3.2, fal/<model>, wavespeed/<model>, luma/*, fal/*, wavespeed/*)")
        }
        guard (serveArtifacts == nil) == (publicURL == nil) else {
            throw ValidationError("--serve-artifacts and --public-url go together")
        }
        if let publicURL {
            guard let url = URLComponents(string: publicURL), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                  url.host?.isEmpty == false, url.query == nil, url.user == nil else {
                throw ValidationError("--public-url must be an http(s) URL without user info or query, e.g. https://worker-3.example.com:8443")
            }
        }
        guard Self.encodePresets.contains(encodePreset) else {
            throw ValidationError("--encode-preset: \(encodePreset.debugDescription) is not an x264 preset (use one of \(Self.encodePresets.joined(separator: ", ")))")
        }
        guard (10...600_000).contains(pollMilliseconds) else { throw ValidationError("--poll-ms must be between 10 and 600000") }
        guard let deadline = DurationText.seconds(pollDeadline), deadline >= 1 else {
            throw ValidationError("--poll-deadline: \(pollDeadline.debugDescription) is not a duration of at least 1 s (write 90s, 30m, 2h)")
        }
        guard let timeout = DurationText.seconds(apiTimeout), timeout >= 1, timeout <= 3600 else {
            throw ValidationError("--api-timeout: \(apiTimeout.debugDescription) is not a duration from 1 s to 1 h (write 20s, 1m)")
        }
    }

    /// The CURVE keys, when both files are given; a configuration error when only one is.
    func curveKeys() throws(CommandFailure) -> (coordinatorKey: CurvePublicKey, secretKey: CurveSecretKey)? {
        switch (curveSecretKey, coordinatorPublicKey) {
        case (nil, nil):
            return nil
        case (let secret?, let coordinator?):
            return (try KeysCommand.readPublic(coordinator, flag: "--coordinator-public-key"),
                    try KeysCommand.readSecret(secret, flag: "--curve-secret-key"))
        case (nil, _?):
            throw CommandFailure("--coordinator-public-key needs --curve-secret-key (this worker's own key file) too",
                                 status: ExitStatus.configuration)
        case (_?, nil):
            throw CommandFailure("--curve-secret-key needs --coordinator-public-key (the coordinator's .pub file) too",
                                 status: ExitStatus.configuration)
        }
    }

    /// The provider a provider capability renders through (`luma/ray-2`, `fal/*`), or nil.
    static func provider(of capability: String) -> Provider? {
        if capability.hasSuffix("/*") { return Provider(rawValue: String(capability.dropLast(2))) }
        return Engine(name: capability).flatMap(Provider.init(engine:))
    }

    /// The engines this worker runs, by capability; provider engines need their keys now,
    /// not when the first job fails for want of one.
    func engineMap(offered: [String], environment: [String: String], signer: URLSigner?) throws -> [String: any JobEngine] {
        var map: [String: any JobEngine] = ["smoke": SmokeEngine(), "interpolate": InterpolateEngine(),
                                            "stitch": StitchEngine(stitcher: Stitcher(preset: encodePreset))]
        let providerCapabilities = offered.filter { Self.provider(of: $0) != nil }
        guard !providerCapabilities.isEmpty else { return map }
        let secrets = ProviderSecrets(environment: environment)
        for provider in Set(providerCapabilities.compactMap(Self.provider(of:))).sorted(by: { $0.rawValue < $1.rawValue }) {
            do {
                _ = try secrets.key(for: provider)
            } catch {
                throw CommandFailure("--engines offers \(provider) engines, but \(error)", status: ExitStatus.configuration)
            }
        }
        let endpoints: ProviderEndpoints
        do {
            endpoints = try ProviderEndpoints(environment: environment)
        } catch {
            throw CommandFailure("\(error)", status: ExitStatus.configuration)
        }
        var settings = ProviderEngine.Settings(endpoints: endpoints, secrets: secrets, signer: signer)
        settings.firstPoll = .milliseconds(pollMilliseconds)
        settings.maximumPoll = max(settings.firstPoll, .seconds(20))
        settings.pollDeadline = .milliseconds(Int64((DurationText.seconds(pollDeadline) ?? 7200) * 1000))
        settings.httpLimits.totalTimeout = .milliseconds(Int64((DurationText.seconds(apiTimeout) ?? 60) * 1000))
        let engine = ProviderEngine(settings: settings)
        for capability in providerCapabilities { map[capability] = engine }
        return map
    }

    func run() throws {
        try reportingFailures {
            let logger = try common.logger(defaultLevel: "info")
            let curve = try curveKeys()
            let environment = CommandEnvironment.current
            let host = ProcessInfo.processInfo.hostName
            let offered = engines.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            var configuration = WorkerConfiguration(
                connect: connect, name: name ?? host, slots: slots, engines: offered,
                storage: storage ?? WorkerConfiguration.defaultStorage(environment: environment),
                version: KeyfarmCommand.version, host: host)
            configuration.heartbeatInterval = Double(heartbeatMilliseconds) / 1000
            configuration.drainTimeout = drainTimeout
            configuration.curve = curve
            var artifactServer: ArtifactServer?
            if let serveArtifacts, let publicURL {
                // The server lives on Swift concurrency; this thread waits until it listens.
                let started = Outcome<Result<ArtifactServer, any Error>>()
                Task {
                    do {
                        started.set(.success(try await ArtifactServer.start(listen: serveArtifacts, publicURL: publicURL,
                                                                            logger: logger)))
                    } catch {
                        started.set(.failure(error))
                    }
                }
                artifactServer = try started.wait().get()
                Console.current.printError("keyfarm: serving keyframes to providers on \(artifactServer!.address) as \(publicURL)")
            }
            let engineMap = try engineMap(offered: offered, environment: environment,
                                          signer: artifactServer?.signer)
            let worker = try Worker(configuration: configuration, engines: engineMap, logger: logger,
                                    notifier: SystemdNotifier(environment: environment))
            let stop = StopSignal()
            stop.installAsHandler()
            Console.current.printError("keyfarm: worker \(configuration.name) connecting to \(connect) with \(slots) slot(s)"
                + (curve.map { " over CURVE as public key \($0.secretKey.publicKey)" } ?? ""))
            let status = try worker.run(until: stop)
            // The goodbye (DISCONNECT) is queued on a closed socket with a linger: terminating
            // the context is what waits for it to leave. A process that exits first drops it,
            // and the coordinator would call the worker lost instead of offline.
            ZMQContext.shared.terminate(waitingAtMost: .milliseconds(1500))
            if status != 0 { throw ExitCode(status) }
        }
    }
}

/// Pings systemd's watchdog at the interval it asked for.
struct Watchdog {
    let notifier: SystemdNotifier
    var last = ContinuousClock.now

    init(notifier: SystemdNotifier) { self.notifier = notifier }

    mutating func ping() {
        guard let interval = notifier.watchdogInterval, ContinuousClock.now - last >= interval else { return }
        last = ContinuousClock.now
        notifier.watchdog()
    }
}
