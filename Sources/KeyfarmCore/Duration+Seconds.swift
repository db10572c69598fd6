extension Duration {
    /// The duration in seconds, as the decisions and reactors count time.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
