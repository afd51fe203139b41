import ArgumentParser
import Foundation

/// `authctl`: log in from a terminal, look at tokens, and load-test the server.
///
/// Exit codes: 0 success, 1 the server refused, 2 usage error, 3 could not connect or TLS failed.
@main
struct AuthCtl: ParsableCommand {
    /// The release of the clients (authctl, the Python package `authd-client`): the one place it is
    /// written for Swift; `clients/python/authrpc/_version.py` carries the same (a test compares them).
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "authctl",
        abstract: "Client of the authd authentication service: log in, inspect and validate tokens, load-test.",
        discussion: """
            Tokens from register and login are kept in $XDG_CONFIG_HOME/authctl/credentials (default ~/.config/authctl/credentials, mode 0600) for status, logout and refresh.

            Options every command takes (--server, --ca, --cert, --key, --timeout, --json, --profile) go before or after the subcommand. Each setting comes from, first: the flag, then the environment variable (AUTHCTL_SERVER, AUTHCTL_CA, AUTHCTL_CERT, AUTHCTL_KEY), then the profile (--profile NAME, AUTHCTL_PROFILE, or the one `authctl config use` chose). A profile keeps its own credentials, in $XDG_CONFIG_HOME/authctl/credentials.d/NAME.

            Commands that take a token read it from --token-file FILE (mode 0600), AUTHCTL_TOKEN, or standard input (-), so it stays off the command line, where other local users see it (ps, /proc).

            Exit codes: 0 success, 1 the server refused, 2 usage error, 3 could not connect or TLS failed.

            Example:
              export AUTHCTL_SERVER=127.0.0.1:7443 AUTHCTL_CA=.data/dev/ca.pem
              authctl login --email alice@example.com
              authctl status --json
              authctl config set prod --server auth.example.com:7443 --ca prod-ca.pem
              authctl --profile prod health

            Shell completion: authctl --generate-completion-script bash|zsh|fish
            """,
        version: version,
        subcommands: [Register.self, Login.self, Status.self, Logout.self, Refresh.self, Validate.self, ServiceTokenCommand.self,
                      Health.self, RevokeAll.self, Bench.self, Config.self,
                      Passwd.self, Sessions.self, DeleteAccount.self, ResetPassword.self, Admin.self, KeysCommand.self])

    /// Parses, runs, and maps every failure onto the documented exit codes (ArgumentParser's own
    /// usage errors would exit 64; ours is 2).
    static func main() {
        let arguments = GlobalArguments.reorder(Array(CommandLine.arguments.dropFirst()), root: AuthCtl.self)
        // --profile NAME is AUTHCTL_PROFILE for this run: the kept credentials' path follows it too.
        if let profile = GlobalArguments.profile(in: arguments) { setenv(ProfileStore.variable, profile, 1) }
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
