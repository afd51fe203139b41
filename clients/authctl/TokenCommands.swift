import ArgumentParser
import AuthAPI
import Foundation

/// `authctl validate TOKEN`: ask the server whether a token is good, as a service would.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a token as a service would; a refused token exits 1.",
        discussion: """
            Use - to read the token from standard input.

            Example:
              authctl validate "$TOKEN" --json
              authctl validate - < token.txt
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The access token (or - for standard input).") var token: String

    func run() throws {
        var token = self.token
        if token == "-" {
            guard let line = readLine(strippingNewline: true) else { throw CLIError.usage("no token on standard input") }
            token = line.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let client = try options.client()
        let reply = try perform { try client.validate(ValidateRequest(token: token), options: options.plain) }
        guard reply.valid else {
            throw CLIError.refused(code: "UNAUTHENTICATED", message: reply.message.isEmpty ? "token refused" : reply.message)
        }
        options.printer.result([
            ("user_id", .int(reply.userId)), ("admin", .bool(reply.admin)), ("expires_at", .int(reply.expiresAt)),
            ("expires_in", .int(reply.expiresIn)),
        ], text: ["Token is valid."] + Labels.lines([
            ("User", "id \(reply.userId)\(reply.admin ? " (admin)" : "")"),
            ("Expires", "\(isoTime(reply.expiresAt)) (in \(reply.expiresIn) s)"),
        ]))
    }
}

/// `authctl health`: the server's health status.
struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask whether the server is serving (exits 1 unless SERVING).",
        discussion: "Example:\n  authctl health --server 10.0.0.5:7443 --ca ca.pem")

    @OptionGroup var options: ConnectionOptions
    @Option(help: "A service name to ask about (default: the whole server).") var service: String = ""

    func run() throws {
        let client = try options.client()
        let reply = try perform { try client.health(HealthRequest(service: service), options: options.plain) }
        let name = switch reply.status {
        case .serving: "SERVING"
        case .notServing: "NOT_SERVING"
        case .serviceUnknown: "SERVICE_UNKNOWN"
        case .unknown: "UNKNOWN"
        case .unrecognized(let value): "UNRECOGNIZED(\(value))"
        }
        guard reply.status == .serving else {
            throw CLIError.refused(code: "UNAVAILABLE", message: "server status \(name)")
        }
        options.printer.result([("status", .string(name))], text: ["\(options.serverAddress): \(name)"])
    }
}

/// `authctl revoke-all --user-id N`: an administrator revokes every token of a user.
struct RevokeAll: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke-all",
        abstract: "Revoke every token issued to a user until now (needs an administrator's token).",
        discussion: """
            Uses the kept token unless --token is given.

            Example:
              authctl revoke-all --user-id 42
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(help: "The user whose tokens are revoked.") var userId: Int64
    @Option(parsing: .unconditional, help: "An administrator's access token to use instead of the kept one.") var token: String?

    func run() throws {
        let kept = token == nil ? try StoredCredentials.require() : nil
        let options = self.options.following(kept)
        let token = self.token ?? kept!.token
        let client = try options.client()
        let reply = try perform { try client.revokeAll(RevokeAllRequest(userId: userId), options: options.bearer(token)) }
        options.printer.result([("user_id", .int(userId)), ("revoked_before", .int(reply.revokedBefore))],
                               text: ["Revoked every token of user \(userId) issued before \(isoTime(reply.revokedBefore))."])
    }
}
