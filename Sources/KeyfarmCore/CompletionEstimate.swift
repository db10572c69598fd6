/// When a shot list's remaining work should be done, from how long its finished work took:
/// `keyfarm watch`'s ETA. Each engine's remaining jobs cost its measured mean attempt time;
/// the total is shared among the jobs running now.
public struct CompletionEstimate: Sendable, Equatable {
    /// One engine's share of a list's work (`interpolate`, `luma/ray-2`, `stitch`, `smoke`).
    public struct EngineWork: Sendable, Equatable {
        public var engine: String
        /// Jobs not yet succeeded, failed or cancelled.
        public var unfinishedJobs: Int
        /// The unfinished jobs' remaining fractions, summed: a job half done counts 0.5.
        public var remainingJobs: Double
        public var runningJobs: Int
        /// Succeeded attempts measured, and their mean time from lease to result.
        public var measuredJobs: Int
        public var meanSeconds: Double?

        public init(engine: String, unfinishedJobs: Int, remainingJobs: Double, runningJobs: Int, measuredJobs: Int,
                    meanSeconds: Double?) {
            self.engine = engine
            self.unfinishedJobs = unfinishedJobs
            self.remainingJobs = remainingJobs
            self.runningJobs = runningJobs
            self.measuredJobs = measuredJobs
            self.meanSeconds = meanSeconds
        }
    }

    /// Seconds until done; nil when no unfinished work has been measured yet.
    public var seconds: Double?
    /// Some unfinished work is of an engine with nothing measured, so the estimate is a lower bound.
    public var isLowerBound: Bool

    public init(seconds: Double?, isLowerBound: Bool) {
        self.seconds = seconds
        self.isLowerBound = isLowerBound
    }

    /// The estimate for a list's work, engine by engine.
    public init(_ work: [EngineWork]) {
        let unfinished = work.filter { $0.unfinishedJobs > 0 }
        guard !unfinished.isEmpty else {
            self.init(seconds: 0, isLowerBound: false)
            return
        }
        let measured = unfinished.filter { ($0.meanSeconds ?? 0) > 0 && $0.measuredJobs > 0 }
        guard !measured.isEmpty else {
            self.init(seconds: nil, isLowerBound: true)
            return
        }
        let total = measured.reduce(0.0) { $0 + max($1.remainingJobs, 0) * ($1.meanSeconds ?? 0) }
        let parallel = max(work.reduce(0) { $0 + $1.runningJobs }, 1)
        self.init(seconds: total / Double(parallel), isLowerBound: measured.count < unfinished.count)
    }
}
