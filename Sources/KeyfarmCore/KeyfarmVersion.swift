/// Keyfarm's version, shown by `keyfarm --version`, sent in HELLO and in the User-Agent.
public enum KeyfarmVersion {
    public static let current = "0.1.0"
}
