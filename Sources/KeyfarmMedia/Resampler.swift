import Foundation

/// Resizing with a Lanczos-3 filter in linear light, and fitting a picture into a shot's frame.
public enum Resampler {
    /// How a picture whose aspect differs from the frame's is fitted into it.
    public enum Fit: String, Sendable, CaseIterable {
        /// Scale to cover the frame and crop the overflow evenly from both sides.
        case crop
        /// Scale to fit inside the frame and fill the rest with black bars.
        case pad
    }

    /// Scales `image` to exactly `width` x `height` (aspect not kept).
    public static func resize(_ image: LinearImage, width: Int, height: Int) -> LinearImage {
        if image.width == width && image.height == height { return image }
        return resample(image, x: 0, y: 0, sourceWidth: Double(image.width), sourceHeight: Double(image.height),
                        width: width, height: height)
    }

    /// Fits `image` into a `width` x `height` frame by `fit`; an image of that size already is
    /// returned untouched, so keyframes at the shot's size keep their exact pixels.
    public static func conform(_ image: LinearImage, width: Int, height: Int, fit: Fit = .crop) -> LinearImage {
        if image.width == width && image.height == height { return image }
        let scaleX = Double(width) / Double(image.width), scaleY = Double(height) / Double(image.height)
        switch fit {
        case .crop:
            let scale = max(scaleX, scaleY)
            let sourceWidth = Double(width) / scale, sourceHeight = Double(height) / scale
            return resample(image, x: (Double(image.width) - sourceWidth) / 2, y: (Double(image.height) - sourceHeight) / 2,
                            sourceWidth: sourceWidth, sourceHeight: sourceHeight, width: width, height: height)
        case .pad:
            let scale = min(scaleX, scaleY)
            let innerWidth = min(width, max(1, Int((Double(image.width) * scale).rounded())))
            let innerHeight = min(height, max(1, Int((Double(image.height) * scale).rounded())))
            let inner = resize(image, width: innerWidth, height: innerHeight)
            var framed = LinearImage(width: width, height: height)
            let left = (width - innerWidth) / 2, top = (height - innerHeight) / 2
            for y in 0..<innerHeight {
                let from = y * innerWidth * 3, to = ((top + y) * width + left) * 3
                framed.pixels.replaceSubrange(to..<(to + innerWidth * 3), with: inner.pixels[from..<(from + innerWidth * 3)])
            }
            return framed
        }
    }

    /// One output axis: for each output sample, the first source index and its weights.
    struct Taps {
        var first: [Int]
        var weights: [Float]
        var span: Int

        init(outputs: Int, sourceStart: Double, sourceLength: Double, sourceCount: Int) {
            let scale = Double(outputs) / sourceLength
            let stretch = max(1, 1 / scale)          // widen the kernel when shrinking
            let radius = 3 * stretch
            span = Int((radius * 2).rounded(.up)) + 1
            first = [Int](repeating: 0, count: outputs)
            weights = [Float](repeating: 0, count: outputs * span)
            for o in 0..<outputs {
                let center = sourceStart + (Double(o) + 0.5) / scale - 0.5
                let start = Int((center - radius).rounded(.up))
                var sum = 0.0
                var local = [Double](repeating: 0, count: span)
                for k in 0..<span {
                    let distance = (Double(start + k) - center) / stretch
                    let weight = Self.lanczos3(distance)
                    local[k] = weight
                    sum += weight
                }
                // Taps outside the picture repeat its edge: fold them onto the nearest pixel.
                let clampedStart = min(max(start, 0), max(sourceCount - span, 0))
                first[o] = clampedStart
                var folded = [Double](repeating: 0, count: span)
                for k in 0..<span {
                    let index = min(max(start + k, 0), sourceCount - 1)
                    let slot = min(max(index - clampedStart, 0), span - 1)
                    folded[slot] += local[k]
                }
                for k in 0..<span { weights[o * span + k] = Float(folded[k] / (sum == 0 ? 1 : sum)) }
            }
        }

        static func lanczos3(_ x: Double) -> Double {
            let a = abs(x)
            if a < 1e-9 { return 1 }
            if a >= 3 { return 0 }
            let px = Double.pi * x
            return 3 * sin(px) * sin(px / 3) / (px * px)
        }
    }

    /// Resamples the source rectangle (x, y, sourceWidth, sourceHeight) onto `width` x `height`.
    static func resample(_ image: LinearImage, x: Double, y: Double, sourceWidth: Double, sourceHeight: Double,
                         width: Int, height: Int) -> LinearImage {
        let columns = Taps(outputs: width, sourceStart: x, sourceLength: sourceWidth, sourceCount: image.width)
        let rows = Taps(outputs: height, sourceStart: y, sourceLength: sourceHeight, sourceCount: image.height)
        // Horizontal pass over every source row, then the vertical pass.
        let horizontal = SharedBuffer<Float>(count: image.height * width * 3, repeating: 0)
        let columnSpan = min(columns.span, image.width)
        image.pixels.withUnsafeBufferPointer { source in
            columns.weights.withUnsafeBufferPointer { weights in
                parallelBands(image.height) { band in
                    for row in band {
                        let input = source.baseAddress! + row * image.width * 3
                        let output = horizontal.pointer + row * width * 3
                        for o in 0..<width {
                            var sum = SIMD3<Float>.zero
                            let base = columns.first[o]
                            for k in 0..<columnSpan {
                                let w = weights[o * columns.span + k]
                                let p = input + (base + k) * 3
                                sum += w * SIMD3(p[0], p[1], p[2])
                            }
                            output[o * 3] = sum.x; output[o * 3 + 1] = sum.y; output[o * 3 + 2] = sum.z
                        }
                    }
                }
            }
        }
        let result = SharedBuffer<Float>(count: width * height * 3, repeating: 0)
        let rowSpan = min(rows.span, image.height)
        rows.weights.withUnsafeBufferPointer { weights in
            parallelBands(height) { band in
                for o in band {
                    let output = result.pointer + o * width * 3
                    for k in 0..<rowSpan {
                        let w = weights[o * rows.span + k]
                        if w == 0 { continue }
                        let input = horizontal.pointer + (rows.first[o] + k) * width * 3
                        for i in 0..<(width * 3) { output[i] += w * input[i] }
                    }
                }
            }
        }
        return LinearImage(width: width, height: height, pixels: result.array)
    }
}
