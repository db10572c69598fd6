import Foundation
import KeyfarmMedia
import KeyfarmTestSupport
import Testing

@Suite struct InterpolatorTests {
    /// A textured picture panning by (13.5, -6.25) pixels between the keyframes.
    static let translation = SyntheticScene(width: 192, height: 112, pan: SIMD2(13.5, -6.25), objects: [], seed: 7)

    /// A textured square crossing a slowly panning background.
    static let object = SyntheticScene(
        width: 192, height: 112, pan: SIMD2(4, 2),
        objects: [.init(origin: SIMD2(30, 30), size: SIMD2(56, 48), motion: SIMD2(36, 10), seed: 11)], seed: 3)

    @Test func theEndFramesAreTheKeyframesExactly() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let scene = Self.object
            let a = scene.render(at: 0), b = scene.render(at: 1)
            let interpolator = Interpolator(start: a, end: b)
            #expect(interpolator.frame(at: 0) == a)
            #expect(interpolator.frame(at: 1) == b)
        }
    }

    @Test func aTranslationIsRecoveredFarBetterThanACrossfade() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let scene = Self.translation
            let interpolator = Interpolator(start: scene.render(at: 0), end: scene.render(at: 1))
            #expect(!interpolator.crossfadeOnly)
            for t in [0.25, 0.5, 0.75] {
                let truth = scene.render(at: t)
                let psnr = ImageQuality.psnr(interpolator.frame(at: t), truth)
                let blend = ImageQuality.psnr(interpolator.crossfade(Float(t)), truth)
                #expect(psnr > 35, "t=\(t): \(psnr) dB")
                #expect(psnr > blend + 10, "t=\(t): \(psnr) dB against a crossfade's \(blend) dB")
            }
        }
    }

    @Test func aMovingObjectOverAPanIsRecoveredWithItsOcclusions() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let scene = Self.object
            let interpolator = Interpolator(start: scene.render(at: 0), end: scene.render(at: 1))
            for t in [1.0 / 3, 2.0 / 3] {
                let truth = scene.render(at: t)
                let psnr = ImageQuality.psnr(interpolator.frame(at: t), truth)
                let blend = ImageQuality.psnr(interpolator.crossfade(Float(t)), truth)
                #expect(psnr > blend + 6, "t=\(t): \(psnr) dB against a crossfade's \(blend) dB")
                #expect(psnr > 28, "t=\(t): \(psnr) dB")
            }
        }
    }

    @Test func identicalKeyframesGiveIdenticalFrames() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let a = Self.object.render(at: 0.5)
            let interpolator = Interpolator(start: a, end: a)
            for t in [0.1, 0.5, 0.9] { #expect(interpolator.frame(at: t) == a) }
        }
    }

    @Test func aSceneCutFallsBackToACleanBlend() async throws {
        // Off the cooperative pool: heavy work there would starve the in-process servers of other tests.
        try await offPool {
            let a = SyntheticScene(width: 160, height: 96, pan: .zero, objects: [], seed: 1).render(at: 0)
            let b = SyntheticScene(width: 160, height: 96, pan: .zero, objects: [], seed: 99).render(at: 0)
            let interpolator = Interpolator(start: a, end: b)
            #expect(interpolator.crossfadeOnly, "reliable fraction \(interpolator.reliableFraction)")
            let middle = interpolator.frame(at: 0.5)
            // Exactly the blend: no warped fragments of either picture.
            for i in stride(from: 0, to: a.pixels.count, by: 97) {
                #expect(abs(middle.pixels[i] - (a.pixels[i] + b.pixels[i]) / 2) < 1e-6)
            }
        }
    }
}
