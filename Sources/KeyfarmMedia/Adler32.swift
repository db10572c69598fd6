/// The Adler-32 checksum (RFC 1950) that ends a zlib stream, sixteen bytes at a time.
///
/// zlib's `adler32` adds one byte at a time; its two sums depend on each other from byte to
/// byte, so a frame's 12 MB of filtered rows took nearly as long to check as to code. Here
/// each of sixteen lanes keeps its own sums over a block, and the block's share of the second
/// sum is worked out from them at its end (the positions' weights are known).
enum Adler32 {
    static let modulus: UInt64 = 65_521

    /// The checksum of `count` bytes from `bytes`, continuing `adler` (1 for a fresh stream).
    static func update(_ adler: UInt32, _ bytes: UnsafePointer<UInt8>, count: Int) -> UInt32 {
        var a = UInt64(adler & 0xffff), b = UInt64(adler >> 16)
        var at = 0
        // 4096 vectors a block: the lanes' second sums reach at most 255 * 4096 * 4095 / 2 < 2^32.
        let blockBytes = 16 * 4096
        while count - at >= 16 {
            let vectors = min(count - at, blockBytes) / 16
            let raw = UnsafeRawPointer(bytes + at)
            var sums = SIMD16<UInt32>.zero, weighted = SIMD16<UInt32>.zero
            for k in 0..<vectors {
                // `weighted` gathers each lane's bytes once per vector after it.
                weighted &+= sums
                sums &+= SIMD16<UInt32>(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: k &* 16, as: SIMD16<UInt8>.self))
            }
            let n = UInt64(vectors * 16)
            // A byte at position i of the block adds (n - i) times to the second sum: 16 times
            // for every vector after its own, and 16 - lane times for its own.
            // Summed in 64 bits: sixteen lanes of up to 2^31 overflow 32.
            var laneShare: UInt64 = 0, later: UInt64 = 0
            for lane in 0..<16 {
                laneShare += UInt64(16 - lane) * UInt64(sums[lane])
                later += UInt64(weighted[lane])
            }
            b = (b + n * a + 16 * later + laneShare) % modulus
            a = (a + UInt64(sums.wrappedSum())) % modulus
            at += vectors * 16
        }
        while at < count {
            a += UInt64(bytes[at])
            b += a
            at += 1
        }
        return UInt32(b % modulus) << 16 | UInt32(a % modulus)
    }
}
