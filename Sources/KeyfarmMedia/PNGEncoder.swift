import CPNG
import Foundation

/// Writes sRGB PNGs (8 or 16 bits, RGB) from linear light quickly, on all cores. The rows are
/// cut into bands; each band is converted and SUB-filtered on a core of its own, then, with one
/// Huffman code for the whole picture, coded by `LiteralDeflate` into an IDAT chunk of its own;
/// the chunks together hold one zlib stream.
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
    /// One row in this many is counted for the Huffman code.
    static let countedRowEvery = 4

    /// The buffers of filtered rows and coded bands, kept from one picture to the next so that
    /// a sequence of frames does not fault in fresh memory for each. One encode at a time.
    final class Workspace: @unchecked Sendable {
        private(set) var filtered = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        private(set) var coded = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        private var filteredCapacity = 1, codedCapacity = 1

        init() {}

        func reserve(filtered filteredBytes: Int, coded codedBytes: Int) {
            if filteredBytes > filteredCapacity {
                filtered.deallocate()
                filtered = .allocate(capacity: filteredBytes)
                filteredCapacity = filteredBytes
            }
            if codedBytes > codedCapacity {
                coded.deallocate()
                coded = .allocate(capacity: codedBytes)
                codedCapacity = codedBytes
            }
        }

        deinit {
            filtered.deallocate()
            coded.deallocate()
        }
    }

    /// The PNG of the picture whose rows `rows(range, scratch)` gives: linear RGB floats, either
    /// a pointer into a picture already in memory or `scratch` (room for `range`'s rows) after
    /// filling it. It is called on several threads at once, for disjoint ranges.
    func encode(in workspace: Workspace = Workspace(),
                rows: (Range<Int>, UnsafeMutablePointer<Float>) -> UnsafePointer<Float>) -> Data {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // Eight bands a core: the last band leaves the other core idle only briefly, and a
        // band's filtered rows are still in cache when it is coded (measured against four and
        // sixteen).
        let bandCount = max(1, min(cores * 8, height / 16))
        let rowBytes = 1 + width * 3 * bitDepth / 8
        let bands = (0..<bandCount).map { (height * $0 / bandCount)..<(height * ($0 + 1) / bandCount) }
        // Where each band's IDAT chunk goes: length, type, zlib header (first band), data, CRC.
        var places = [0]
        for band in bands { places.append(places.last! + 14 + LiteralDeflate.bound(band.count * rowBytes)) }
        workspace.reserve(filtered: height * rowBytes, coded: places.last!)
        let filtered = workspace.filtered, coded = workspace.coded

        let histograms = SharedBuffer<UInt32>(count: bandCount * 256, repeating: 0)
        parallelBands(height, bands: bandCount) { band, range in
            filterBand(range, into: filtered + range.lowerBound * rowBytes, histogram: histograms.pointer + band * 256, rows: rows)
        }
        var histogram = [UInt32](repeating: 0, count: 256)
        for band in 0..<bandCount {
            for byte in 0..<256 { histogram[byte] += histograms[band * 256 + byte] }
        }
        // Every byte value gets a code, since rows that were not counted may hold any.
        let deflate = LiteralDeflate(histogram: histogram.map { $0 + 1 })

        let chunks = SharedBuffer<Chunk>(count: bandCount, repeating: Chunk(count: 0, adler: 0, rawBytes: 0))
        parallelBands(height, bands: bandCount) { band, range in
            let raw = filtered + range.lowerBound * rowBytes, rawBytes = range.count * rowBytes
            let chunk = coded + places[band], payload = chunk + 8
            var length = 0
            if band == 0 {
                payload[0] = 0x78; payload[1] = 0x01   // deflate, 32 KiB window, fastest
                length = 2
            }
            length += deflate.compress(raw, count: rawBytes, into: payload + length)
            Self.store(UInt32(length), at: chunk)
            (chunk + 4).update(from: Self.idat, count: 4)
            Self.store(UInt32(crc32(0, chunk + 4, UInt32(length + 4))), at: payload + length)
            chunks[band] = Chunk(count: 12 + length, adler: UInt(Adler32.update(1, raw, count: rawBytes)), rawBytes: rawBytes)
        }

        var adler: UInt = 1
        for band in 0..<bandCount { adler = adler32_combine(adler, chunks[band].adler, chunks[band].rawBytes) }
        var header: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
        Self.appendChunk("IHDR", Self.bigEndian(UInt32(width)) + Self.bigEndian(UInt32(height))
                             + [UInt8(bitDepth), 2, 0, 0, 0], to: &header)
        // What libpng's png_set_sRGB_gAMA_and_cHRM writes: sRGB, perceptual intent.
        Self.appendChunk("gAMA", Self.bigEndian(45_455), to: &header)
        Self.appendChunk("sRGB", [0], to: &header)
        Self.appendChunk("cHRM", [31_270, 32_900, 64_000, 33_000, 30_000, 60_000, 15_000, 6_000].flatMap { Self.bigEndian($0) },
                         to: &header)
        var footer: [UInt8] = []
        Self.appendChunk("IDAT", LiteralDeflate.finalBlock + Self.bigEndian(UInt32(adler)), to: &footer)
        Self.appendChunk("IEND", [], to: &footer)

        let total = header.count + (0..<bandCount).reduce(0) { $0 + chunks[$1].count } + footer.count
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: total)
        var offset = 0
        func append(_ bytes: UnsafePointer<UInt8>, _ count: Int) {
            (out + offset).update(from: bytes, count: count)
            offset += count
        }
        append(header, header.count)
        for band in 0..<bandCount { append(coded + places[band], chunks[band].count) }
        append(footer, footer.count)
        return Data(bytesNoCopy: out, count: total, deallocator: .custom { pointer, _ in pointer.deallocate() })
    }

    /// A band's IDAT chunk as coded: its size, and the Adler-32 and length of its filtered rows
    /// (the zlib stream's uncompressed data) for the trailer.
    struct Chunk {
        var count: Int
        var adler: UInt
        var rawBytes: Int
    }

    static let idat: [UInt8] = Array("IDAT".utf8)

    /// Converts and filters rows `range` into `out` and counts the filtered bytes (and the
    /// filter-type bytes) of every `countedRowEvery`-th row into `histogram`.
    func filterBand(_ range: Range<Int>, into out: UnsafeMutablePointer<UInt8>, histogram: UnsafeMutablePointer<UInt32>,
                    rows: (Range<Int>, UnsafeMutablePointer<Float>) -> UnsafePointer<Float>) {
        let rowBytes = 1 + width * 3 * bitDepth / 8
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Self.rowsPerChunk * width * 3)
        defer { scratch.deallocate() }
        let codes = UnsafeMutablePointer<UInt16>.allocate(capacity: width * 3)
        defer { codes.deallocate() }
        let lanes = 3 * bitDepth / 8
        let counts = UnsafeMutablePointer<UInt32>.allocate(capacity: 256 * lanes)
        counts.initialize(repeating: 0, count: 256 * lanes)
        defer { counts.deallocate() }
        SRGB.codeTable.withUnsafeBufferPointer { table in
            for first in stride(from: range.lowerBound, to: range.upperBound, by: Self.rowsPerChunk) {
                let chunk = first..<min(first + Self.rowsPerChunk, range.upperBound)
                let linear = rows(chunk, scratch)
                for y in chunk {
                    let row = out + (y - range.lowerBound) * rowBytes
                    let samples = linear + (y - first) * width * 3
                    // Every fourth row is counted: plenty for a good code, which only has to
                    // be near optimal, and every byte gets a code (see `encode`).
                    let counted = (y - range.lowerBound) % Self.countedRowEvery == 0
                    if bitDepth == 16 {
                        convertRow(samples, into: codes, maximum: 65535, table: table.baseAddress!)
                        if counted {
                            filterRow16(codes, into: row, histograms: counts)
                        } else {
                            filterRow16(codes, into: row, histograms: nil)
                        }
                    } else {
                        convertRow(samples, into: codes, maximum: 255, table: table.baseAddress!)
                        filterRow8(codes, into: row, histograms: counted ? counts : nil)
                    }
                }
            }
        }
        for byte in 0..<256 {
            var sum: UInt32 = 0
            for lane in 0..<lanes { sum += counts[lane * 256 + byte] }
            histogram[byte] = sum
        }
        histogram[1] += UInt32((range.count + Self.countedRowEvery - 1) / Self.countedRowEvery)   // SUB, each row's filter type
    }

    /// The codes of a row of samples at `maximum`. Every sample takes the table first, four at
    /// a time in a loop with no calls in it; only when `exact` and some sample is doubtful does
    /// the row go through `SRGB.code` again, so keyframes cost no more than in-betweens.
    @inline(__always)
    func convertRow(_ samples: UnsafePointer<Float>, into codes: UnsafeMutablePointer<UInt16>, maximum: Float,
                    table: UnsafePointer<SIMD2<Float>>) {
        let count = width * 3
        var doubtful = SIMDMask<SIMD4<Int32>>(repeating: false)
        var i = 0
        while i + 4 <= count {
            let converted = SRGB.tableCodes(UnsafeRawPointer(samples + i).loadUnaligned(as: SIMD4<Float>.self),
                                            maximum: maximum, table: table)
            UnsafeMutableRawPointer(codes + i).storeBytes(of: SIMD4<UInt16>(truncatingIfNeeded: converted.codes),
                                                          as: SIMD4<UInt16>.self)
            doubtful .|= converted.doubtful
            i += 4
        }
        var doubtfulTail = false
        while i < count {
            let converted = SRGB.tableCode(samples[i], maximum: maximum, table: table)
            codes[i] = UInt16(truncatingIfNeeded: converted.code)
            doubtfulTail = doubtfulTail || converted.doubtful
            i += 1
        }
        if exact && (any(doubtful) || doubtfulTail) {
            for i in 0..<count {
                codes[i] = UInt16(truncatingIfNeeded: SRGB.code(samples[i], maximum: maximum, exact: true, table: table))
            }
        }
    }

    /// One row of 16-bit codes as big-endian samples, SUB-filtered (each byte minus the same
    /// byte of the pixel before), behind its filter-type byte; counts the filtered bytes into
    /// `histograms` (one per byte of a pixel, so that runs of one value do not wait on each
    /// other's counts) when there are any. Eight samples at a time: within a 16-bit lane the
    /// two bytes are subtracted apart (masked, so that no borrow crosses between them), then
    /// swapped to big-endian.
    @inline(__always)
    func filterRow16(_ codes: UnsafePointer<UInt16>, into row: UnsafeMutablePointer<UInt8>,
                     histograms: UnsafeMutablePointer<UInt32>?) {
        row[0] = 1
        let samples = width * 3
        let out = UnsafeMutableRawPointer(row + 1)
        @inline(__always) func put(_ i: Int) {
            let before: UInt16 = i >= 3 ? codes[i - 3] : 0
            let low = (codes[i] &- before) & 0x00ff, high = (codes[i] & 0xff00) &- (before & 0xff00)
            out.storeBytes(of: (high | low).bigEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
        for i in 0..<min(3, samples) { put(i) }
        var i = 3
        while i + 8 <= samples {
            let code = UnsafeRawPointer(codes + i).loadUnaligned(as: SIMD8<UInt16>.self)
            let before = UnsafeRawPointer(codes + i - 3).loadUnaligned(as: SIMD8<UInt16>.self)
            let difference = (code & 0xff00 &- before & 0xff00) | (code &- before) & 0x00ff
            out.storeBytes(of: difference &<< 8 | difference &>> 8, toByteOffset: 2 * i, as: SIMD8<UInt16>.self)
            i += 8
        }
        while i < samples { put(i); i += 1 }
        guard let histograms else { return }
        let bytes = row + 1
        for x in 0..<width {
            let pixel = bytes + x * 6
            for lane in 0..<6 { histograms[lane << 8 | Int(pixel[lane])] += 1 }
        }
    }

    /// `filterRow16` for 8-bit codes.
    @inline(__always)
    func filterRow8(_ codes: UnsafePointer<UInt16>, into row: UnsafeMutablePointer<UInt8>,
                    histograms: UnsafeMutablePointer<UInt32>?) {
        row[0] = 1
        for i in 0..<(width * 3) {
            let byte = UInt8(truncatingIfNeeded: codes[i]) &- (i >= 3 ? UInt8(truncatingIfNeeded: codes[i - 3]) : 0)
            row[1 + i] = byte
            if let histograms { histograms[(i % 3) << 8 | Int(byte)] += 1 }
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
