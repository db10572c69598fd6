import Foundation
import KeyfarmCommands

exit(KeyfarmCLI.run(Array(CommandLine.arguments.dropFirst())))
