import KeyfarmCore
import KeyfarmPostgres
/// Placeholder until the schema lands in this module.
public enum KeyfarmStoreModule {}
