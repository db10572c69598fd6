/// A canonical Huffman code as deflate (RFC 1951) writes it: a length per symbol, at most
/// `limit` bits, and each code bit-reversed, since deflate sends Huffman codes from their
/// first bit into a stream that is otherwise filled from the least significant bit.
struct HuffmanCode {
    /// Bits per symbol; 0 for a symbol that never occurs.
    let lengths: [UInt8]
    /// The code of each symbol, reversed, in the low `lengths[symbol]` bits.
    let codes: [UInt16]

    /// The optimal code for `frequencies` whose longest code has at most `limit` bits. At least
    /// two symbols get a code (a lone symbol is paired with a neighbour), so the code is always
    /// complete, which zlib's inflate insists on.
    init(frequencies: [UInt32], limit: Int) {
        var weights = frequencies.map(UInt64.init)
        if weights.count(where: { $0 > 0 }) < 2 {
            // Deflate's decoders want a complete code: give a second symbol a nominal weight.
            let first = weights.firstIndex(where: { $0 > 0 }) ?? 0
            weights[first] = max(weights[first], 1)
            weights[first == 0 ? 1 : 0] = max(weights[first == 0 ? 1 : 0], 1)
        }
        var lengths = Self.treeDepths(weights)
        while lengths.max()! > limit {
            // Flattening the weights shortens the deepest codes; a few rounds reach any limit.
            weights = weights.map { $0 == 0 ? 0 : ($0 + 1) / 2 }
            lengths = Self.treeDepths(weights)
        }
        self.lengths = lengths.map(UInt8.init)
        self.codes = Self.canonicalCodes(self.lengths)
    }

    /// The depth of every leaf of a Huffman tree over the non-zero weights (two-queue method:
    /// leaves sorted by weight, internal nodes made in non-decreasing weight order).
    static func treeDepths(_ weights: [UInt64]) -> [Int] {
        let leaves = weights.indices.filter { weights[$0] > 0 }.sorted { (weights[$0], $0) < (weights[$1], $1) }
        var depths = [Int](repeating: 0, count: weights.count)
        guard leaves.count > 1 else { return depths }
        // Nodes 0..<n are the leaves in order, n... the internal nodes as they are made.
        let n = leaves.count
        var weight = leaves.map { weights[$0] } + [UInt64](repeating: 0, count: n - 1)
        var parent = [Int](repeating: -1, count: 2 * n - 1)
        var nextLeaf = 0, nextInternal = n, made = n
        func takeLightest() -> Int {
            if nextLeaf < n && (nextInternal == made || weight[nextLeaf] <= weight[nextInternal]) {
                nextLeaf += 1
                return nextLeaf - 1
            }
            nextInternal += 1
            return nextInternal - 1
        }
        while made < 2 * n - 1 {
            let a = takeLightest(), b = takeLightest()
            weight[made] = weight[a] + weight[b]
            parent[a] = made
            parent[b] = made
            made += 1
        }
        // Parents come after their children, so one backward pass gives every node its depth.
        var nodeDepth = [Int](repeating: 0, count: 2 * n - 1)
        for node in stride(from: 2 * n - 3, through: 0, by: -1) { nodeDepth[node] = nodeDepth[parent[node]] + 1 }
        for (k, symbol) in leaves.enumerated() { depths[symbol] = nodeDepth[k] }
        return depths
    }

    /// RFC 1951 section 3.2.2: codes of one length are consecutive, in symbol order.
    static func canonicalCodes(_ lengths: [UInt8]) -> [UInt16] {
        let longest = Int(lengths.max() ?? 0)
        var perLength = [Int](repeating: 0, count: longest + 1)
        for length in lengths where length > 0 { perLength[Int(length)] += 1 }
        var next = [Int](repeating: 0, count: longest + 1)
        var code = 0
        for bits in stride(from: 1, through: longest, by: 1) {
            code = (code + perLength[bits - 1]) << 1
            next[bits] = code
        }
        return lengths.map { length in
            guard length > 0 else { return 0 }
            let value = next[Int(length)]
            next[Int(length)] += 1
            var reversed = 0
            for bit in 0..<Int(length) where value & (1 << bit) != 0 { reversed |= 1 << (Int(length) - 1 - bit) }
            return UInt16(reversed)
        }
    }
}
