/// Placeholder until the shot-list model lands in this module.
public enum KeyfarmCoreModule {}
