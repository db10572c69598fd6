import Foundation
import Synchronization

/// Runs `body` on `count` threads at once and rethrows the first error any of them threw.
func withThreads(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let firstError = Mutex<(any Error)?>(nil)
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            do { try body(index) } catch { firstError.withLock { if $0 == nil { $0 = error } } }
        }
    }
    group.wait()
    if let error = firstError.withLock({ $0 }) { throw error }
}
