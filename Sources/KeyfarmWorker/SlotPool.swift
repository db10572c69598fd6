import Foundation
import KeyfarmWire
import Logging
import Synchronization

/// The worker's job threads: one per slot, started once, each with its own `inproc://` PUSH
/// socket to the reactor. Starting a thread and a socket per job would cost more than a
/// no-op job itself.
final class SlotPool: Sendable {
    struct Work: Sendable {
        var job: AssignedJob
        var engine: (any JobEngine)?
        var control: JobControl
        var receivedAt: Int64
        /// The worker's logger; the attempt logs through it (and into its log tail).
        var logger: Logger
    }

    private let queue = Mutex<[Work]>([])
    private let available = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchGroup()

    init(slots: Int, endpoint: String, context: ZMQContext) {
        self.slots = slots
        for _ in 0..<slots {
            finished.enter()
            Thread.detachNewThread { [self] in
                defer { finished.leave() }
                guard let socket = try? ZMQSocket(context: context, type: .push) else { return }
                defer { socket.close() }
                try? socket.setLinger(milliseconds: 1000)
                guard (try? socket.connect(endpoint)) != nil else { return }
                while true {
                    available.wait()
                    if stopping.load(ordering: .acquiring) { return }
                    guard let work = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
                    JobThread.run(work, socket: socket)
                }
            }
        }
    }

    private let slots: Int

    /// Hands a job to the next free slot thread.
    func submit(_ work: Work) {
        queue.withLock { $0.append(work) }
        available.signal()
    }

    /// Stops the threads once their current jobs are done.
    func shutdown(timeout: Duration = .seconds(5)) {
        stopping.store(true, ordering: .releasing)
        for _ in 0..<slots { available.signal() }
        _ = finished.wait(timeout: .now() + .milliseconds(Int(timeout.components.seconds * 1000)))
    }
}
