import Foundation
@testable import KeyfarmMedia
import KeyfarmTestSupport
import Testing

@Suite struct MotionEstimatorTests {
    @Test func theMedianOfABlocksNeighbourhoodIsTheMiddleOfEachSortedComponent() async throws {
        try await offPool {
            var generator = SystemRandomNumberGenerator()
            // Few distinct values, so that ties are common, and the edges, where blocks repeat.
            let columns = 9, rows = 7
            for _ in 0..<20 {
                let vectors = (0..<(columns * rows)).map { _ in
                    SIMD2<Float>(Float(Int.random(in: -4...4, using: &generator)) * 0.5,
                                 Float.random(in: -8...8, using: &generator))
                }
                let field = BlockField(columns: columns, rows: rows, blockSize: 8, vectors: vectors,
                                       costs: [Float](repeating: 0, count: columns * rows))
                for row in 0..<rows {
                    for column in 0..<columns {
                        var xs: [Float] = [], ys: [Float] = []
                        for dy in -1...1 {
                            for dx in -1...1 {
                                let v = field.vector(column + dx, row + dy)
                                xs.append(v.x); ys.append(v.y)
                            }
                        }
                        let expected = SIMD2(xs.sorted()[4], ys.sorted()[4])
                        #expect(field.median(column, row) == expected, "block \(column), \(row)")
                    }
                }
            }
        }
    }
}
