import ArgumentParser
import AuthAPI
import Foundation

/// `authctl validate TOKEN`: ask the server whether a token is good, as a service would.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a token as a service would; a refused token exits 1.",
        discussion: """
            The token comes from the TOKEN argument, --token-file, or AUTHCTL_TOKEN, in that order (never from the kept credentials); - reads it from standard input. A token on the command line is visible to other local users (ps, /proc).

            Example:
              authctl validate --token-file token.txt --json
              AUTHCTL_TOKEN="$TOKEN" authctl validate
              authctl validate - < token.txt
              authctl validate --token-file token.txt --require-scope orders:read   # refused (exit 1) without it
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: ArgumentHelp("The access token (- reads it from standard input). A token on the command line is visible to other local users (ps, /proc): prefer --token-file, AUTHCTL_TOKEN or -.",
                                 valueName: "token"))
    var token: String?
    @Option(help: TokenInput.fileHelp()) var tokenFile: String?
    @Option(name: .customLong("require-scope"), help: "A scope the token must carry (repeat for several); else refused, exit 1.")
    var requiredScopes: [String] = []
    @Option(help: "An audience the token's aud must name; else refused, exit 1.") var audience = ""

    func run() throws {
        let input = TokenInput(argument: self.token, file: tokenFile, variable: TokenInput.accessVariable, argumentName: "TOKEN")
        guard let token = try input.resolve() else {
            throw CLIError.usage("no token: give --token-file FILE, AUTHCTL_TOKEN, - (standard input) or TOKEN")
        }
        let client = try options.client()
        let request = ValidateRequest(token: token, requiredScopes: requiredScopes, audience: audience)
        let reply = try perform { try client.validate(request, options: options.plain) }
        guard reply.valid else {
            throw CLIError.refused(code: reply.refusal == .forbidden ? "PERMISSION_DENIED" : "UNAUTHENTICATED",
                                   message: reply.message.isEmpty ? "token refused" : reply.message)
        }
        let service = reply.kind == .service
        options.printer.result([
            ("user_id", .int(reply.userId)), ("admin", .bool(reply.admin)), ("expires_at", .int(reply.expiresAt)),
            ("expires_in", .int(reply.expiresIn)), ("subject", .string(reply.subject)),
            ("kind", .string(service ? "service" : "user")),
            ("scopes", .array(reply.scopes.map { .string($0) })), ("roles", .array(reply.roles.map { .string($0) })),
        ], text: ["Token is valid."] + Labels.lines([
            service ? ("Service", reply.subject) : ("User", "id \(reply.userId)\(reply.admin ? " (admin)" : "")"),
            ("Scopes", reply.scopes.joined(separator: " ")), ("Roles", reply.roles.joined(separator: " ")),
            ("Expires", "\(isoTime(reply.expiresAt)) (in \(reply.expiresIn) s)"),
        ].filter { !$0.1.isEmpty }))
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
            Uses the kept token unless one is given with --token-file, AUTHCTL_TOKEN or --token (first match: --token or --token-file, then AUTHCTL_TOKEN, then the kept credentials).

            Example:
              authctl revoke-all --user-id 42
              authctl revoke-all --user-id 42 --token-file admin-token.txt
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(help: "The user whose tokens are revoked.") var userId: Int64
    @Option(parsing: .unconditional, help: TokenInput.argumentHelp("An administrator's access token to use instead of the kept one"))
    var token: String?
    @Option(help: TokenInput.fileHelp()) var tokenFile: String?

    func run() throws {
        let given = try TokenInput(argument: token, file: tokenFile, variable: TokenInput.accessVariable).resolve()
        let kept = given == nil ? try StoredCredentials.require() : nil
        let options = self.options.following(kept)
        let token = given ?? kept!.token
        let client = try options.client()
        let reply = try perform { try client.revokeAll(RevokeAllRequest(userId: userId), options: options.bearer(token)) }
        options.printer.result([("user_id", .int(userId)), ("revoked_before", .int(reply.revokedBefore))],
                               text: ["Revoked every token of user \(userId) issued before \(isoTime(reply.revokedBefore))."])
    }
}
