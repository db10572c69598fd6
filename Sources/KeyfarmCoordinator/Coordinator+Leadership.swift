import KeyfarmCore
import KeyfarmDecisions
import KeyfarmPostgres
import KeyfarmStore
import KeyfarmWire

/// The leader stopped acting: its lease lapsed or was taken.
struct SteppingDown: Error {
    var reason: String
}

/// Standing by and leading: the lease row in PostgreSQL decides (`Leadership`); this only asks
/// the database, answers workers while standing by, and hands over between the two roles.
extension Coordinator {
    /// Stands by until this coordinator takes the lease (its epoch), or `stop` (nil). Every
    /// message a worker sends meanwhile is answered DISCONNECT "standby" naming the leader.
    func standBy(until stop: StopSignal, onReady: () -> Void, onTurn: () -> Void) throws -> Int64? {
        let poller = ZMQPoller()
        let socketItem = poller.add(.socket(socket))
        let stopItem = poller.add(.descriptor(stop.descriptor))
        let zapItem = security.map { poller.add(.socket($0.zap)) }
        let monitorItem = security.map { poller.add(.socket($0.monitor)) }
        // With CURVE the handshakes need ZAP answers even here, or workers never hear "standby":
        // the allow-list is loaded now and again whenever it changes.
        let keysItem: Int?
        if security != nil {
            try store.connection.listen(FarmStore.keysChannel)
            try handle(answer(.workerKeys))
            keysItem = poller.add(.descriptor(store.connection.socket))
        } else {
            keysItem = nil
        }
        var announced: String?
        var tookOver = false
        while true {
            for action in leadership.handle(.tick, now: now) {
                guard case .acquire(let seconds) = action else { continue }
                let answer: Leadership.Event = switch try store.tryLease(identity, seconds: seconds) {
                case .acquired(let epoch): .acquired(epoch: epoch)
                case .heldByOther(let endpoint, let epoch): .heldByOther(endpoint: endpoint, epoch: epoch)
                }
                if case .heldByOther = answer { tookOver = true }
                for next in leadership.handle(answer, now: now) {
                    guard case .lead(let epoch) = next else { continue }
                    // Workers of a leader that died must first notice it and find this one.
                    var settings = configuration.dispatcherSettings
                    if tookOver { settings.adoptionGrace = Double(settings.liveness) * settings.heartbeatInterval + 1 }
                    dispatcher = Dispatcher(settings: settings)
                    logger.info("took the coordinator lease", metadata: ["epoch": "\(epoch)", "took_over": "\(tookOver)"])
                    return epoch
                }
            }
            // Said when it starts to stand by, and again whenever another coordinator leads.
            if case .standby(let leader?, let epoch) = leadership.role, leader != announced {
                announced = leader
                logger.info("standing by", metadata: ["endpoint": "\(endpoint)", "leader": "\(leader)",
                                                      "epoch": "\(epoch.map(String.init) ?? "none")"])
                onReady()
                roleChanged("standing by; the leader is \(leader)")
            }
            let wakeUp = leadership.nextWakeUp(after: now)
            let ready = try poller.poll(timeout: .milliseconds(Int64((max(0, wakeUp - now) * 1000).rounded(.up))))
            if ready.contains(stopItem) { return nil }
            if let zapItem, ready.contains(zapItem) { try answerAuthenticationRequests() }
            if let monitorItem, ready.contains(monitorItem) { while try security?.monitor.receive(dontWait: true) != nil {} }
            if ready.contains(socketItem) { try answerAsStandby() }
            if let keysItem, ready.contains(keysItem),
               try store.connection.pollNotifications().contains(where: { $0.channel == FarmStore.keysChannel }) {
                try handle(answer(.workerKeys))
            }
            onTurn()
        }
    }

    /// Answers every waiting message with DISCONNECT "standby" and the leader's endpoint, except
    /// a worker's own goodbye.
    private func answerAsStandby() throws {
        for _ in 0..<configuration.receiveBatch {
            guard let frames = try socket.receive(dontWait: true), let identity = frames.first else { break }
            if case .disconnect? = try? WireMessage.decode(frames.dropFirst()) { continue }
            sendStandby(to: identity)
        }
    }

    private func sendStandby(to identity: Identity) {
        sendDisconnect(reason: DisconnectReason.standby, leader: leadership.leaderEndpoint ?? "", to: identity)
    }

    /// The leader's lease, renewed when due; throws `SteppingDown` when it lapsed or was taken.
    func keepLease() throws {
        for action in leadership.handle(.tick, now: now) {
            switch action {
            case .renew(let epoch, let seconds):
                let renewed = try store.renewLease(instance: identity.instance, epoch: epoch, seconds: seconds)
                for next in leadership.handle(renewed ? .renewed : .renewalRefused, now: now) {
                    if case .stepDown(let reason) = next { throw SteppingDown(reason: reason) }
                }
            case .stepDown(let reason):
                throw SteppingDown(reason: reason)
            case .acquire, .lead:
                break
            }
        }
    }

    /// After losing the lead: every worker is told to go to the leader, everything in memory is
    /// forgotten (as a restart would), and the connection stops listening and fencing.
    func stepDown(_ reason: String) {
        logger.error("stepping down: no longer the leader", metadata: ["reason": "\(reason)",
                                                                       "workers": "\(dispatcher.roster.members.count)"])
        for identity in dispatcher.roster.members.keys { sendStandby(to: identity) }
        stopLeading()
        if store.connection.isOpen {
            _ = try? store.connection.execute("UNLISTEN *")
            try? store.markCoordinator(instance: identity.instance, stopped: false)
        }
    }

    /// Forgets the lead without a word to anyone: a lost database, or the end.
    func stopLeading() {
        store.connection.commitGuard = nil
        leadership.reset()
        forgetEverything()
        dispatcher = Dispatcher(settings: configuration.dispatcherSettings)
    }

    /// On a clean stop: the workers are told to go (to their other endpoints), and the lease
    /// is given up at once, so a standby leads within a quarter of it.
    func resign() {
        let epoch: Int64? = if case .leading(let epoch) = leadership.role { epoch } else { nil }
        if epoch != nil {
            for identity in dispatcher.roster.members.keys { sendStandby(to: identity) }
            // The socket closes next, with linger 0 it would drop these: give them a second to leave.
            try? socket.setLinger(milliseconds: 1000)
        }
        store.connection.commitGuard = nil
        guard store.connection.isOpen else { return }
        if let epoch { try? store.releaseLease(instance: identity.instance, epoch: epoch) }
        try? store.markCoordinator(instance: identity.instance, stopped: true)
    }
}
