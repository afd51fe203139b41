import ArgumentParser
import Foundation

/// `authctl`: log in from a terminal, look at tokens, and load-test the server.
///
/// Exit codes: 0 success, 1 the server refused, 2 usage error, 3 could not connect or TLS failed.
@main
struct AuthCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authctl",
        abstract: "Client of the authd authentication service: log in, inspect and validate tokens, load-test.",
        discussion: """
            Tokens from register and login are kept in $XDG_CONFIG_HOME/authctl/credentials (default ~/.config/authctl/credentials, mode 0600) for status, logout and refresh.

            Commands that take a token read it from --token-file FILE (mode 0600), AUTHCTL_TOKEN, or standard input (-), so it stays off the command line, where other local users see it (ps, /proc).

            Exit codes: 0 success, 1 the server refused, 2 usage error, 3 could not connect or TLS failed.

            Example:
              export AUTHCTL_SERVER=127.0.0.1:7443 AUTHCTL_CA=.data/dev/ca.pem
              authctl login --email alice@example.com
              authctl status --json
            """,
        subcommands: [Register.self, Login.self, Status.self, Logout.self, Refresh.self, Validate.self,
                      Health.self, RevokeAll.self, Bench.self])

    /// Parses, runs, and maps every failure onto the documented exit codes (ArgumentParser's own
    /// usage errors would exit 64; ours is 2).
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let printer = Printer(json: arguments.contains("--json"))
        // Every way out closes the connections first (see OpenTransports).
        defer { OpenTransports.closeAll() }
        do {
            // `bench plot` is a subcommand of a command that takes a positional scenario: route it by hand.
            var command = try arguments.starts(with: ["bench", "plot"]) ? BenchPlot.parseAsRoot(Array(arguments.dropFirst(2)))
                : parseAsRoot(arguments)
            try command.run()
        } catch let error as CLIError {
            printer.failure(error)
            OpenTransports.closeAll()
            Glibc.exit(error.exitCode)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            if printer.json {
                printer.failure(.usage(message(for: error)))
            } else {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            }
            OpenTransports.closeAll()
            Glibc.exit(CLIError.usage("").exitCode)
        }
    }
}
