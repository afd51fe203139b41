import ArgumentParser
import Foundation

/// The options every command takes (`ConnectionOptions`), accepted before the subcommand as well
/// as after it, as `git -C`, `kubectl --server` and `docker -H` are: `authctl --server H:P health`
/// is `authctl health --server H:P`. The leading global options are moved after the subcommand
/// path before parsing, so every command that has `@OptionGroup var …: ConnectionOptions` takes
/// them, with no change to the command.
enum GlobalArguments {
    /// The global options that take a value.
    static let valued: Set<String> = ["--server", "--ca", "--cert", "--key", "--timeout", "--profile"]
    /// The global flags.
    static let flags: Set<String> = ["--json"]

    /// `arguments` (without the program name) with the global options given before the subcommand
    /// path moved right after it: `--server X --json status --token-file F` becomes
    /// `status --server X --json --token-file F`. The path is the run of (nested) subcommand names
    /// among the leading arguments; everything else keeps its order.
    static func reorder(_ arguments: [String], root: any ParsableCommand.Type) -> [String] {
        var leading: [String] = [], path: [String] = []
        var command = root
        var index = 0
        scan: while index < arguments.count {
            let argument = arguments[index]
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            if valued.contains(name) {
                let takesNext = !argument.contains("=") && index + 1 < arguments.count
                leading += arguments[index..<(index + (takesNext ? 2 : 1))]
                index += takesNext ? 2 : 1
            } else if flags.contains(argument) {
                leading.append(argument)
                index += 1
            } else if let subcommand = command.configuration.subcommands.first(where: {
                $0._commandName == argument || $0.configuration.aliases.contains(argument)
            }) {
                path.append(argument)
                command = subcommand
                index += 1
            } else {
                break scan
            }
        }
        guard !leading.isEmpty, !path.isEmpty else { return arguments }
        return path + leading + arguments[index...]
    }

    /// The value of the last `--profile NAME` (or `--profile=NAME`) before `--`, if any.
    static func profile(in arguments: [String]) -> String? {
        var found: String?
        var index = 0
        while index < arguments.count, arguments[index] != "--" {
            let argument = arguments[index]
            if argument == "--profile", index + 1 < arguments.count {
                found = arguments[index + 1]
                index += 2
                continue
            }
            if argument.hasPrefix("--profile=") { found = String(argument.dropFirst("--profile=".count)) }
            index += 1
        }
        return found
    }
}
