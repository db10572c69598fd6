/// Deflate (RFC 1951) with literals only: one dynamic-Huffman block per run of bytes, ending
/// byte-aligned, so that runs compressed on different cores concatenate into one stream.
///
/// Filtered 16-bit picture samples rarely repeat, so zlib's string matching buys little on
/// them; its Huffman-only strategy keeps most of the gain but still moves every symbol through
/// 16-bit bit buffers and 16 KiB blocks. Coding the literals straight from a table with a
/// 64-bit bit buffer is several times faster and gives the same size.
enum LiteralDeflate {
    /// The most bytes `compress` writes for `count` input bytes.
    static func bound(_ count: Int) -> Int { count * 2 + 512 }

    /// Writes `input` as one non-final block of literals followed by an empty stored block (a
    /// sync flush), which leaves the stream byte-aligned. `histogram` counts `input`'s bytes.
    /// Returns the bytes written to `output`, which holds at least `bound(count)`.
    static func compress(_ input: UnsafePointer<UInt8>, count: Int, histogram: UnsafePointer<UInt32>,
                         into output: UnsafeMutablePointer<UInt8>) -> Int {
        var frequencies = [UInt32](UnsafeBufferPointer(start: histogram, count: 256))
        frequencies.append(1)   // end of block
        let literals = HuffmanCode(frequencies: frequencies, limit: 15)
        let distances = (lengths: [UInt8](repeating: 1, count: 2), count: 2)   // unused, but present and complete
        let lengths = literals.lengths + distances.lengths
        var lengthFrequencies = [UInt32](repeating: 0, count: 19)
        for length in lengths { lengthFrequencies[Int(length)] += 1 }
        let lengthCode = HuffmanCode(frequencies: lengthFrequencies, limit: 7)

        var bits = BitWriter(output)
        bits.write(0, 1)                                  // BFINAL: more blocks follow
        bits.write(2, 2)                                  // BTYPE: dynamic Huffman
        bits.write(UInt32(literals.lengths.count - 257), 5)
        bits.write(UInt32(distances.count - 1), 5)
        bits.write(19 - 4, 4)
        for symbol in [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15] {
            bits.write(UInt32(lengthCode.lengths[symbol]), 3)
        }
        for length in lengths {
            bits.write(UInt32(lengthCode.codes[Int(length)]), Int(lengthCode.lengths[Int(length)]))
        }
        // Code and length of each byte in one word, for the loop below.
        var table = [UInt32](repeating: 0, count: 256)
        for byte in 0..<256 { table[byte] = UInt32(literals.codes[byte]) | UInt32(literals.lengths[byte]) << 16 }
        table.withUnsafeBufferPointer { table in
            bits.writeLiterals(input, count: count, table: table.baseAddress!)
        }
        bits.write(UInt32(literals.codes[256]), Int(literals.lengths[256]))
        // The sync flush: an empty stored block, its length fields on the next byte boundary.
        bits.write(0, 1)
        bits.write(0, 2)
        bits.alignToByte()
        bits.writeBytes([0x00, 0x00, 0xff, 0xff])
        return bits.count
    }

    /// The last block of a stream whose blocks all end byte-aligned: an empty final stored block.
    static let finalBlock: [UInt8] = [0x01, 0x00, 0x00, 0xff, 0xff]
}

/// Bits written from the least significant end of each byte, as deflate wants them.
struct BitWriter {
    let output: UnsafeMutablePointer<UInt8>
    /// Whole bytes written so far.
    private(set) var count = 0
    private var buffer: UInt64 = 0
    private var pending = 0

    init(_ output: UnsafeMutablePointer<UInt8>) { self.output = output }

    /// Appends the low `width` (at most 16) bits of `value`.
    @inline(__always) mutating func write(_ value: UInt32, _ width: Int) {
        buffer |= UInt64(value) << UInt64(pending)
        pending += width
        if pending >= 32 { spill() }
    }

    @inline(__always) private mutating func spill() {
        UnsafeMutableRawPointer(output + count).storeBytes(of: UInt32(truncatingIfNeeded: buffer).littleEndian, as: UInt32.self)
        count += 4
        buffer >>= 32
        pending -= 32
    }

    /// Codes `count` bytes through `table` (code in the low 16 bits, length above), two at a
    /// time: two codes of at most 15 bits always fit beside fewer than 32 pending bits.
    mutating func writeLiterals(_ input: UnsafePointer<UInt8>, count: Int, table: UnsafePointer<UInt32>) {
        var buffer = self.buffer, pending = UInt64(self.pending), written = self.count
        var i = 0
        while i + 2 <= count {
            let first = table[Int(input[i])], second = table[Int(input[i + 1])]
            buffer |= UInt64(first & 0xffff) << pending
            pending += UInt64(first >> 16)
            buffer |= UInt64(second & 0xffff) << pending
            pending += UInt64(second >> 16)
            if pending >= 32 {
                UnsafeMutableRawPointer(output + written).storeBytes(of: UInt32(truncatingIfNeeded: buffer).littleEndian, as: UInt32.self)
                written += 4
                buffer >>= 32
                pending -= 32
            }
            i += 2
        }
        self.buffer = buffer
        self.pending = Int(pending)
        self.count = written
        if i < count { write(table[Int(input[i])] & 0xffff, Int(table[Int(input[i])] >> 16)) }
    }

    /// Pads the last partial byte with zero bits and writes out everything pending.
    mutating func alignToByte() {
        while pending > 0 {
            output[count] = UInt8(truncatingIfNeeded: buffer)
            count += 1
            buffer >>= 8
            pending = max(pending - 8, 0)
        }
        buffer = 0
    }

    /// Appends whole bytes; only on a byte boundary.
    mutating func writeBytes(_ bytes: [UInt8]) {
        precondition(pending == 0, "bytes go on a byte boundary")
        for byte in bytes { output[count] = byte; count += 1 }
    }
}
