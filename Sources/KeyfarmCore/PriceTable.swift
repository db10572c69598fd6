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

        /// The same price at every resolution.
        public static func flat(_ byBucket: [Int: Int], note: String = "") -> EnginePrice {
            EnginePrice(credits: byBucket.mapValues { price in
                Dictionary(uniqueKeysWithValues: Resolution.allCases.map { ($0, price) })
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
        let ray32 = EnginePrice(credits: [
            5: [.p540: 15, .p720: 30, .p1080: 120],
            10: [.p540: 30, .p720: 60, .p1080: 240],
        ], note: "10 s bills as two 5 s blocks")
        let kling = EnginePrice.flat([5: 35, 10: 70], note: "5xx failures not billed")
        return PriceTable(engines: [
            "interpolate": EnginePrice.flat([0: 0], note: "local"),
            "luma/ray-2": ray2,
            "luma/ray-flash-2": flash,
            "luma/ray-3.2": ray32,
            "fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video": kling,
        ])
    }()

    /// The credits one generation of `bucket` seconds at `resolution` costs, or nil when the
    /// table has no price for it (WaveSpeed models, unlisted fal models: the operator sets them).
    public func credits(engine: Engine, bucket: Int?, resolution: Resolution) -> Int? {
        if engine == .interpolate { return 0 }
        guard let bucket, let price = engines[engine.name] else { return nil }
        return price.credits[bucket]?[resolution]
    }
}
