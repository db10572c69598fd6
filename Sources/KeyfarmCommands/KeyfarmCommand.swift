import ArgumentParser
/// Placeholder root command.
public struct KeyfarmCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "keyfarm")
    public init() {}
}
