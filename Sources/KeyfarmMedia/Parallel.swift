import Dispatch
import Foundation

/// Splits `0..<count` into contiguous bands and runs `body` on them on every core.
/// Bands are a few times more than cores so that an uneven band does not leave a core idle.
@inline(__always)
func parallelBands(_ count: Int, minimumBand: Int = 8, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let bands = max(1, min(cores * 4, count / max(minimumBand, 1)))
    if bands == 1 { body(0..<count); return }
    withoutActuallyEscaping(body) { body in
        // The bands touch disjoint data, which the callers' unsafe pointers cannot express.
        let work = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: bands) { band in
            let start = count * band / bands, end = count * (band + 1) / bands
            if start < end { work.value(start..<end) }
        }
    }
}

/// An array of `rows * perRow` plain values (numbers, vectors, flags) made band by band on
/// every core, with no copy: `fill(rows, base)` must set every element of `rows`, counting
/// from `base`, the array's first element.
func parallelRows<Element>(_ rows: Int, perRow: Int, minimumBand: Int = 4,
                           _ fill: (Range<Int>, UnsafeMutablePointer<Element>) -> Void) -> [Element] {
    let count = rows * perRow
    guard count > 0 else { return [] }
    return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
        let base = UncheckedSendable(buffer.baseAddress!)
        parallelBands(rows, minimumBand: minimumBand) { band in fill(band, base.value) }
        initialized = count
    }
}

/// Runs `body(band, range)` for `bands` contiguous, nearly equal bands of `0..<count`, on
/// every core; for work that keeps a result per band.
func parallelBands(_ count: Int, bands: Int, _ body: (Int, Range<Int>) -> Void) {
    let bands = max(1, min(bands, count))
    if bands == 1 { body(0, 0..<count); return }
    withoutActuallyEscaping(body) { body in
        let work = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: bands) { band in
            work.value(band, (count * band / bands)..<(count * (band + 1) / bands))
        }
    }
}

/// A value handed to other threads whose safety the caller guarantees.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A fixed-size buffer several threads write disjoint parts of; Swift arrays cannot be shared
/// that way without copies.
final class SharedBuffer<Element>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Element>
    let count: Int

    init(count: Int, repeating value: Element) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: value, count: count)
    }

    deinit {
        pointer.deinitialize(count: count)
        pointer.deallocate()
    }

    subscript(index: Int) -> Element {
        @inline(__always) get { pointer[index] }
        @inline(__always) set { pointer[index] = newValue }
    }

    var array: [Element] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
