import ArgumentParser

/// The authentication server. Subcommands: `serve` (default), `migrate`, `admin`.
@main
struct Authd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authd",
        abstract: "The authentication server (not wired up yet).")

    @OptionGroup var common: CommonOptions

    func run() throws {
        throw ConfigurationError("authd is not wired up yet")
    }
}
