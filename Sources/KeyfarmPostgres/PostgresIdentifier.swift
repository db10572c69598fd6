/// Quotes SQL identifiers for the few statements that cannot take a parameter (CREATE DATABASE, DROP DATABASE).
public enum PostgresIdentifier {
    /// The name in double quotes with embedded quotes doubled, so any text stays one identifier.
    public static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
