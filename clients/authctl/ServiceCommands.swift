import AuthAPI
import AuthClient
import ArgumentParser
import Foundation

/// `authctl service-token`: a service account's access token (client credentials, or a client
/// certificate bound to the account), kept apart from a user's credentials.
struct ServiceTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service-token",
        abstract: "Get a service token (client credentials, or a bound client certificate); it is kept, never printed in text mode.",
        discussion: """
            The secret is read from the first line of standard input (--client-secret-stdin), never from a flag. Without it, the token is asked for on the strength of the client certificate (--cert, --key) the account is bound to (authd admin service bind-cert).

            The token is kept in service-credentials (service-credentials.d/PROFILE with a profile) beside the user's credentials, mode 0600; --json prints it, with expires_at and scopes.

            Example:
              authctl service-token --client-id billing --client-secret-stdin --scope orders:read --json < secret.txt
              authctl service-token --cert billing.pem --key billing.key
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(help: "The service account's client id (may be left out with a bound client certificate).") var clientId = ""
    @Flag(help: "Read the client secret from the first line of standard input.") var clientSecretStdin = false
    @Option(name: .customLong("scope"), help: "A scope wanted (repeat for several; default: all of the account's).")
    var scopes: [String] = []

    func run() throws {
        let secret = clientSecretStdin ? try PasswordReader.readClientSecret() : ""
        let client = try options.client()
        let reply = try perform {
            try client.serviceToken(ServiceTokenRequest(clientId: clientId, clientSecret: secret, scopes: scopes), options: options.plain)
        }
        let path = ServiceCredentials.path()
        try ServiceCredentials(server: options.serverAddress, clientId: clientId.isEmpty ? nil : clientId, token: reply.token,
                               expiresAt: reply.expiresAt, scopes: reply.scopes).save(to: path)
        options.printer.result([
            ("token", .string(reply.token)), ("expires_at", .int(reply.expiresAt)),
            ("scopes", .array(reply.scopes.map { .string($0) })),
        ], text: ["Service token issued\(clientId.isEmpty ? "" : " for \(clientId)")."] + Labels.lines([
            ("Scopes", reply.scopes.isEmpty ? "(none)" : reply.scopes.joined(separator: " ")),
            ("Token expires", "\(isoTime(reply.expiresAt)) (\(Labels.relative(reply.expiresAt)))"),
            ("Kept in", path),
        ]))
    }
}

/// The service token `authctl service-token` keeps, as a small JSON object (mode 0600).
struct ServiceCredentials: Codable, Equatable {
    var server: String
    var clientId: String?
    var token: String
    var expiresAt: Int64
    var scopes: [String]

    enum CodingKeys: String, CodingKey {
        case server, token, scopes
        case clientId = "client_id"
        case expiresAt = "expires_at"
    }

    /// `service-credentials` in the config folder, or `service-credentials.d/PROFILE` with a profile.
    static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let directory = ProfileStore.directory(environment: environment)
        guard let profile = ProfileStore.selectedName(environment: environment), (try? ProfileStore.checkName(profile)) != nil else {
            return directory + "/service-credentials"
        }
        return directory + "/service-credentials.d/" + profile
    }

    func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try PrivateFile.write(try encoder.encode(self), to: path)
    }
}
