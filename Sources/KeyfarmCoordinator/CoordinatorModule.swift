import KeyfarmWire
/// Placeholder until the coordinator reactor lands.
enum CoordinatorModule {}
