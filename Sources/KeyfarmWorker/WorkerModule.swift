import KeyfarmWire
/// Placeholder until the worker reactor lands.
enum WorkerModule {}
