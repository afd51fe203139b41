import ArgumentParser

/// The command-line client (placeholder until the service is wired).
@main
struct AuthCtl: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "authctl", abstract: "Auth service client (not wired up yet).")
}
