import Foundation

/// Deflate (RFC 1951) with literals only, for bands of one picture coded on different cores:
/// one Huffman code for the whole picture, and each band dynamic-Huffman blocks of its own
/// that end byte-aligned (sync flushes), so that the bands concatenate into one stream.
///
/// Filtered 16-bit picture samples rarely repeat, so zlib's string matching buys little on
/// them; its Huffman-only strategy keeps most of the gain but still moves every symbol through
/// 16-bit bit buffers and 16 KiB blocks. Coding the literals two at a time from a table of
/// byte pairs with a 64-bit bit buffer is several times faster and gives the same size.
struct LiteralDeflate {
    /// The block header: the code lengths, coded, as (bits, width) pairs in order.
    let header: [(UInt32, Int)]
    /// Code and length of each byte, and of the end-of-block symbol.
    let codes: [UInt32]
    let lengths: [UInt8]
    /// The codes of two bytes `first | second << 8` one after the other, and their length.
    let pairCodes: [UInt32]
    let pairLengths: [UInt8]

    /// The code for bytes counted by `histogram` (256 counts).
    init(histogram: [UInt32]) {
        let literals = HuffmanCode(frequencies: histogram + [1], limit: 15)   // and end of block
        // Two distance codes of one bit: unused, but present and complete, as zlib's inflate wants.
        let lengths = literals.lengths + [1, 1]
        var lengthFrequencies = [UInt32](repeating: 0, count: 19)
        for length in lengths { lengthFrequencies[Int(length)] += 1 }
        let lengthCode = HuffmanCode(frequencies: lengthFrequencies, limit: 7)
        var header: [(UInt32, Int)] = [(0, 1), (2, 2)]                     // not final; dynamic Huffman
        header += [(UInt32(literals.lengths.count - 257), 5), (UInt32(2 - 1), 5), (19 - 4, 4)]
        for symbol in [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15] {
            header.append((UInt32(lengthCode.lengths[symbol]), 3))
        }
        for length in lengths {
            header.append((UInt32(lengthCode.codes[Int(length)]), Int(lengthCode.lengths[Int(length)])))
        }
        self.header = header
        codes = literals.codes.map(UInt32.init)
        self.lengths = literals.lengths
        var pairCodes = [UInt32](repeating: 0, count: 65_536), pairLengths = [UInt8](repeating: 0, count: 65_536)
        for second in 0..<256 {
            for first in 0..<256 {
                pairCodes[second << 8 | first] = codes[first] | codes[second] << UInt32(self.lengths[first])
                pairLengths[second << 8 | first] = self.lengths[first] + self.lengths[second]
            }
        }
        self.pairCodes = pairCodes
        self.pairLengths = pairLengths
    }

    /// The most bytes `compress` writes for `count` input bytes.
    static func bound(_ count: Int) -> Int { count * 2 + 1024 }

    /// Writes `input` as two non-final blocks, each followed by an empty stored block (a sync
    /// flush) that leaves the stream byte-aligned. Returns the bytes written to `output`, which
    /// holds at least `bound(count)`. The halves are coded side by side into separate places,
    /// since the position in one bit stream depends on every code before it, and two such
    /// chains keep the processor twice as busy; the second half then moves up behind the first.
    func compress(_ input: UnsafePointer<UInt8>, count: Int, into output: UnsafeMutablePointer<UInt8>) -> Int {
        let half = count / 2 & ~1
        var first = BitWriter(output), second = BitWriter(output + Self.bound(half) - 512)
        for (value, width) in header {
            first.write(value, width)
            second.write(value, width)
        }
        pairCodes.withUnsafeBufferPointer { pairCodes in
            pairLengths.withUnsafeBufferPointer { pairLengths in
                BitWriter.writePairs(&first, input, &second, input + half, count: half,
                                     codes: pairCodes.baseAddress!, lengths: pairLengths.baseAddress!)
                second.writePairs(input + 2 * half, count: (count - 2 * half) & ~1,
                                  codes: pairCodes.baseAddress!, lengths: pairLengths.baseAddress!)
            }
        }
        if count & 1 == 1 { second.write(codes[Int(input[count - 1])], Int(lengths[Int(input[count - 1])])) }
        for end in [0, 1] {
            var bits = end == 0 ? first : second
            bits.write(codes[256], Int(lengths[256]))
            // The sync flush: an empty stored block, its length fields on the next byte boundary.
            bits.write(0, 3)
            bits.alignToByte()
            bits.writeBytes([0x00, 0x00, 0xff, 0xff])
            if end == 0 { first = bits } else { second = bits }
        }
        memmove(output + first.count, second.output, second.count)
        return first.count + second.count
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

    /// Appends the low `width` (at most 30) bits of `value`.
    @inline(__always) mutating func write(_ value: UInt32, _ width: Int) {
        buffer |= UInt64(value) << UInt64(pending)
        pending += width
        if pending >= 32 {
            UnsafeMutableRawPointer(output + count).storeBytes(of: UInt32(truncatingIfNeeded: buffer).littleEndian, as: UInt32.self)
            count += 4
            buffer >>= 32
            pending -= 32
        }
    }

    /// Codes `count` (even) bytes two at a time through the pair tables: a pair's code has at
    /// most 30 bits, which always fit beside fewer than 32 pending bits.
    mutating func writePairs(_ input: UnsafePointer<UInt8>, count: Int,
                             codes: UnsafePointer<UInt32>, lengths: UnsafePointer<UInt8>) {
        var buffer = self.buffer, pending = UInt64(self.pending), written = self.count
        let raw = UnsafeRawPointer(input)
        var i = 0
        while i < count {
            let pair = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt16.self)))
            buffer |= UInt64(codes[pair]) << pending
            pending &+= UInt64(lengths[pair])
            if pending >= 32 {
                UnsafeMutableRawPointer(output + written).storeBytes(of: UInt32(truncatingIfNeeded: buffer).littleEndian, as: UInt32.self)
                written &+= 4
                buffer >>= 32
                pending &-= 32
            }
            i &+= 2
        }
        self.buffer = buffer
        self.pending = Int(pending)
        self.count = written
    }

    /// `writePairs` on two inputs of `count` (even) bytes each, into two writers at once.
    static func writePairs(_ first: inout BitWriter, _ a: UnsafePointer<UInt8>, _ second: inout BitWriter,
                           _ b: UnsafePointer<UInt8>, count: Int, codes: UnsafePointer<UInt32>, lengths: UnsafePointer<UInt8>) {
        var bufferA = first.buffer, pendingA = UInt64(first.pending), writtenA = first.count
        var bufferB = second.buffer, pendingB = UInt64(second.pending), writtenB = second.count
        let outA = first.output, outB = second.output
        let rawA = UnsafeRawPointer(a), rawB = UnsafeRawPointer(b)
        var i = 0
        while i < count {
            let pairA = Int(UInt16(littleEndian: rawA.loadUnaligned(fromByteOffset: i, as: UInt16.self)))
            let pairB = Int(UInt16(littleEndian: rawB.loadUnaligned(fromByteOffset: i, as: UInt16.self)))
            bufferA |= UInt64(codes[pairA]) << pendingA
            pendingA &+= UInt64(lengths[pairA])
            bufferB |= UInt64(codes[pairB]) << pendingB
            pendingB &+= UInt64(lengths[pairB])
            // Whether 32 bits are ready is a coin toss the branch predictor loses, so the low
            // word is stored every time and kept (bits 32 and up dropped) only when full.
            UnsafeMutableRawPointer(outA + writtenA).storeBytes(of: UInt32(truncatingIfNeeded: bufferA).littleEndian, as: UInt32.self)
            UnsafeMutableRawPointer(outB + writtenB).storeBytes(of: UInt32(truncatingIfNeeded: bufferB).littleEndian, as: UInt32.self)
            let fullA = pendingA & 32, fullB = pendingB & 32   // pending stays below 64
            writtenA &+= Int(fullA >> 3)
            writtenB &+= Int(fullB >> 3)
            bufferA >>= fullA
            bufferB >>= fullB
            pendingA &-= fullA
            pendingB &-= fullB
            i &+= 2
        }
        first.buffer = bufferA; first.pending = Int(pendingA); first.count = writtenA
        second.buffer = bufferB; second.pending = Int(pendingB); second.count = writtenB
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
