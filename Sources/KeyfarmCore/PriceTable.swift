/// Credits per generation, by engine, clip length and resolution (1 credit = 1 US cent by
/// default). Planning reads it to put an estimate on every job before it is dispatched.
public struct PriceTable: Sendable, Equatable {
    /// A price for one engine: credits by (bucket seconds, resolution).
    public struct EnginePrice: Sendable, Equatable {
        public var credits: [Int: [Resolution: Int]]
        public var note: String

        public init(credits: [Int: [Resolution: Int]], note: String = "") {
            self.credits = credits
            self.note = note
        }

        /// The same price at every resolution a shot can ask for (and at `resolutions`).
        public static func flat(_ byBucket: [Int: Int], note: String = "",
                                resolutions: [Resolution] = [.p540, .p720, .p1080]) -> EnginePrice {
            EnginePrice(credits: byBucket.mapValues { price in
                Dictionary(uniqueKeysWithValues: resolutions.map { ($0, price) })
            }, note: note)
        }
    }

    /// Prices by engine name (`luma/ray-2`, `fal/fal-ai/...`).
    public var engines: [String: EnginePrice]

    public init(engines: [String: EnginePrice]) { self.engines = engines }

    /// DESIGN.md's default prices (2026 published or third-party figures); operators edit them.
    public static let defaults: PriceTable = {
        let ray2 = EnginePrice(credits: [
            5: [.p540: 40, .p720: 71, .p1080: 159],
            9: [.p540: 72, .p720: 127, .p1080: 287],
        ], note: "Luma refunds failed generations")
        // Ray Flash 2: about a third of Ray 2; its 9 s clip costs 1.8 times its 5 s clip.
        let flash5: [Resolution: Int] = [.p540: 13, .p720: 24, .p1080: 53]
        let flash = EnginePrice(credits: [5: flash5, 9: flash5.mapValues { Int((Double($0) * 1.8).rounded()) }],
                                note: "estimate; check the account's rate")
        // 360p is the draft tier; Luma publishes no figure for it here, so it is an estimate
        // (about half of 540p) the operator should check (`keyfarm prices set`).
        let ray32Blocks: [Resolution: Int] = [.p360: 8, .p540: 15, .p720: 30, .p1080: 120]
        // 10 s bills as two 5 s blocks; HDR doubles a block, HDR with the EXR export triples it.
        // HDR is rendered at 720p and 1080p only.
        func ray32(_ factor: Int, note: String) -> EnginePrice {
            let blocks = factor == 1 ? ray32Blocks : ray32Blocks.filter { $0.key == .p720 || $0.key == .p1080 }
            return EnginePrice(credits: [5: blocks.mapValues { $0 * factor }, 10: blocks.mapValues { $0 * factor * 2 }], note: note)
        }
        let kling = EnginePrice.flat([5: 35, 10: 70], note: "5xx failures not billed")
        return PriceTable(engines: [
            "interpolate": EnginePrice.flat([0: 0], note: "local", resolutions: Resolution.allCases),
            "luma/ray-2": ray2,
            "luma/ray-flash-2": flash,
            "luma/ray-3.2": ray32(1, note: "10 s bills as two 5 s blocks; 360p (draft) estimated"),
            "luma/ray-3.2" + Tier.hdr.suffix: ray32(2, note: "HDR: x2 a block"),
            "luma/ray-3.2" + Tier.hdrEXR.suffix: ray32(3, note: "HDR with the EXR export: x3 a block"),
            "fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video": kling,
        ])
    }()

    /// What a generation is asked to render beyond SDR video, priced as rows of their own:
    /// `<engine>+hdr` and `<engine>+hdr+exr` (as `keyfarm prices` lists them).
    public enum Tier: String, Sendable, CaseIterable {
        case sdr, hdr, hdrEXR

        public init(hdr: Bool, exrExport: Bool) { self = !hdr ? .sdr : exrExport ? .hdrEXR : .hdr }

        /// The suffix its price rows carry after the engine's name.
        public var suffix: String {
            switch self {
            case .sdr: ""
            case .hdr: "+hdr"
            case .hdrEXR: "+hdr+exr"
            }
        }

        /// Splits a price row's engine into the engine and its tier; nil for an unknown suffix.
        public static func split(_ name: String) -> (engine: String, tier: Tier)? {
            for tier in [Tier.hdrEXR, .hdr] where name.hasSuffix(tier.suffix) {
                return (String(name.dropLast(tier.suffix.count)), tier)
            }
            return name.contains("+") ? nil : (name, .sdr)
        }
    }

    /// The credits one generation of `bucket` seconds at `resolution` costs in `tier`, or nil
    /// when the table has no price for it (WaveSpeed models, unlisted fal models: the operator
    /// sets them).
    public func credits(engine: Engine, bucket: Int?, resolution: Resolution, tier: Tier = .sdr) -> Int? {
        if engine == .interpolate { return 0 }
        guard let bucket, let price = engines[engine.name + tier.suffix] else { return nil }
        return price.credits[bucket]?[resolution]
    }
}
