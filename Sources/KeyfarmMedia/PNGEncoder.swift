import CPNG
import Foundation

/// Writes sRGB PNGs (8 or 16 bits, RGB) from linear light quickly, on all cores: the rows are
/// cut into bands, and each band is converted, SUB-filtered and coded by `LiteralDeflate` on a
/// core of its own into an IDAT chunk of its own; the chunks together hold one zlib stream.
///
/// The linear rows come from a closure, so a frame can be rendered band by band straight into
/// the encoder and never exist whole as floats: the floats of a few rows stay in cache from
/// rendering to coding.
struct PNGEncoder {
    let width: Int
    let height: Int
    /// 16 or 8.
    let bitDepth: Int
    /// Converts every sample exactly as `SRGB.encode` would (see `SRGB.code`), so that a
    /// decoded PNG encodes back to the very same codes.
    let exact: Bool

    /// Rows converted at a time: their floats stay in the core's cache.
    static let rowsPerChunk = 8

    /// The PNG of the picture whose rows `rows(range, scratch)` gives: linear RGB floats, either
    /// a pointer into a picture already in memory or `scratch` (room for `range`'s rows) after
    /// filling it. It is called on several threads at once, for disjoint ranges.
    func encode(rows: (Range<Int>, UnsafeMutablePointer<Float>) -> UnsafePointer<Float>) -> Data {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let bandCount = max(1, min(cores * 4, height / 16))
        let chunks = SharedBuffer<Chunk?>(count: bandCount, repeating: nil)
        parallelBands(height, bands: bandCount) { band, range in
            chunks[band] = encodeBand(range, zlibHeader: band == 0, rows: rows)
        }
        var adler: UInt = 1
        var idat: [Chunk] = []
        for band in 0..<bandCount {
            let chunk = chunks[band]!
            adler = adler32_combine(adler, chunk.adler, chunk.rawBytes)
            idat.append(chunk)
        }
        let trailer = LiteralDeflate.finalBlock + [UInt8(adler >> 24 & 0xff), UInt8(adler >> 16 & 0xff),
                                                   UInt8(adler >> 8 & 0xff), UInt8(adler & 0xff)]

        var header = [UInt8]()
        header += [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
        Self.appendChunk("IHDR", Self.bigEndian(UInt32(width)) + Self.bigEndian(UInt32(height))
                             + [UInt8(bitDepth), 2, 0, 0, 0], to: &header)
        // What libpng's png_set_sRGB_gAMA_and_cHRM writes: sRGB, perceptual intent.
        Self.appendChunk("gAMA", Self.bigEndian(45_455), to: &header)
        Self.appendChunk("sRGB", [0], to: &header)
        Self.appendChunk("cHRM", [31_270, 32_900, 64_000, 33_000, 30_000, 60_000, 15_000, 6_000].flatMap { Self.bigEndian($0) },
                         to: &header)
        var footer = [UInt8]()
        Self.appendChunk("IDAT", trailer, to: &footer)
        Self.appendChunk("IEND", [], to: &footer)

        let total = header.count + idat.reduce(0) { $0 + $1.count } + footer.count
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: total)
        var offset = 0
        func append(_ bytes: UnsafePointer<UInt8>, _ count: Int) {
            (out + offset).update(from: bytes, count: count)
            offset += count
        }
        header.withUnsafeBufferPointer { append($0.baseAddress!, $0.count) }
        for chunk in idat {
            append(chunk.bytes, chunk.count)
            chunk.bytes.deallocate()
        }
        footer.withUnsafeBufferPointer { append($0.baseAddress!, $0.count) }
        return Data(bytesNoCopy: out, count: total, deallocator: .custom { pointer, _ in pointer.deallocate() })
    }

    /// One band's IDAT chunk, complete with length and CRC, and what the zlib trailer needs.
    struct Chunk {
        let bytes: UnsafeMutablePointer<UInt8>
        let count: Int
        /// Adler-32 and length of the band's filtered rows (the zlib stream's uncompressed data).
        let adler: UInt
        let rawBytes: Int
    }

    func encodeBand(_ range: Range<Int>, zlibHeader: Bool,
                    rows: (Range<Int>, UnsafeMutablePointer<Float>) -> UnsafePointer<Float>) -> Chunk {
        let rowBytes = 1 + width * 3 * bitDepth / 8
        let rawBytes = range.count * rowBytes
        let filtered = UnsafeMutablePointer<UInt8>.allocate(capacity: rawBytes)
        defer { filtered.deallocate() }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Self.rowsPerChunk * width * 3)
        defer { scratch.deallocate() }
        // One histogram per byte of a pixel, so that runs of one value do not wait on each other's counts.
        let lanes = 3 * bitDepth / 8
        let histograms = UnsafeMutablePointer<UInt32>.allocate(capacity: 256 * lanes)
        histograms.initialize(repeating: 0, count: 256 * lanes)
        defer { histograms.deallocate() }
        SRGB.encodeTable.withUnsafeBufferPointer { table in
            for first in stride(from: range.lowerBound, to: range.upperBound, by: Self.rowsPerChunk) {
                let chunk = first..<min(first + Self.rowsPerChunk, range.upperBound)
                let linear = rows(chunk, scratch)
                for y in chunk {
                    let row = filtered + (y - range.lowerBound) * rowBytes
                    let samples = linear + (y - first) * width * 3
                    if bitDepth == 16 {
                        filterRow16(samples, into: row, histograms: histograms, table: table.baseAddress!)
                    } else {
                        filterRow8(samples, into: row, histograms: histograms, table: table.baseAddress!)
                    }
                }
            }
        }
        for lane in 1..<lanes {
            for byte in 0..<256 { histograms[byte] += histograms[lane * 256 + byte] }
        }
        histograms[1] += UInt32(range.count)   // the filter-type byte of each row: SUB
        let prefix = zlibHeader ? 2 : 0
        let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 12 + prefix + LiteralDeflate.bound(rawBytes))
        let payload = bytes + 8
        if zlibHeader { payload[0] = 0x78; payload[1] = 0x01 }   // deflate, 32 KiB window, fastest
        let length = prefix + LiteralDeflate.compress(filtered, count: rawBytes, histogram: histograms, into: payload + prefix)
        Self.store(UInt32(length), at: bytes)
        (bytes + 4).update(from: Array("IDAT".utf8), count: 4)
        let crc = crc32(0, bytes + 4, UInt32(length + 4))
        Self.store(UInt32(crc), at: bytes + 8 + length)
        return Chunk(bytes: bytes, count: 12 + length, adler: adler32(1, filtered, UInt32(rawBytes)), rawBytes: rawBytes)
    }

    /// One row as 16-bit big-endian samples, SUB-filtered (each byte minus the same byte of the
    /// pixel before), behind its filter-type byte; counts the filtered bytes.
    @inline(__always)
    func filterRow16(_ samples: UnsafePointer<Float>, into row: UnsafeMutablePointer<UInt8>,
                     histograms: UnsafeMutablePointer<UInt32>, table: UnsafePointer<Float>) {
        row[0] = 1
        var previous = SIMD3<Int>.zero
        var out = row + 1
        for x in 0..<width {
            let p = samples + x * 3
            let code = SIMD3(SRGB.code(p[0], maximum: 65535, exact: exact, table: table),
                             SRGB.code(p[1], maximum: 65535, exact: exact, table: table),
                             SRGB.code(p[2], maximum: 65535, exact: exact, table: table))
            for c in 0..<3 {
                let high = UInt8(truncatingIfNeeded: code[c] >> 8) &- UInt8(truncatingIfNeeded: previous[c] >> 8)
                let low = UInt8(truncatingIfNeeded: code[c]) &- UInt8(truncatingIfNeeded: previous[c])
                out[2 * c] = high
                out[2 * c + 1] = low
                histograms[(2 * c) * 256 + Int(high)] += 1
                histograms[(2 * c + 1) * 256 + Int(low)] += 1
            }
            previous = code
            out += 6
        }
    }

    /// `filterRow16` for 8-bit samples.
    @inline(__always)
    func filterRow8(_ samples: UnsafePointer<Float>, into row: UnsafeMutablePointer<UInt8>,
                    histograms: UnsafeMutablePointer<UInt32>, table: UnsafePointer<Float>) {
        row[0] = 1
        var previous = SIMD3<Int>.zero
        var out = row + 1
        for x in 0..<width {
            let p = samples + x * 3
            let code = SIMD3(SRGB.code(p[0], maximum: 255, exact: exact, table: table),
                             SRGB.code(p[1], maximum: 255, exact: exact, table: table),
                             SRGB.code(p[2], maximum: 255, exact: exact, table: table))
            for c in 0..<3 {
                let byte = UInt8(truncatingIfNeeded: code[c]) &- UInt8(truncatingIfNeeded: previous[c])
                out[c] = byte
                histograms[c * 256 + Int(byte)] += 1
            }
            previous = code
            out += 3
        }
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    static func store(_ value: UInt32, at pointer: UnsafeMutablePointer<UInt8>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value.bigEndian, as: UInt32.self)
    }

    /// Appends a chunk: length, type, data and the CRC of type and data.
    static func appendChunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        let body = Array(type.utf8) + data
        out += bigEndian(UInt32(data.count)) + body
        out += bigEndian(UInt32(body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, UInt32($0.count)) }))
    }
}
