import ArgumentParser
import AuthAPI
import Foundation

/// `authctl register`: create an account and keep its tokens.
struct Register: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create an account; its tokens are kept for status, logout and refresh.",
        discussion: """
            The password is asked for twice on the terminal (not echoed), or read from the first line of standard input with --password-stdin.

            Example:
              authctl register --email alice@example.com --server 127.0.0.1:7443 --ca .data/dev/ca.pem
              printf '%s\\n' "$PASSWORD" | authctl register --email alice@example.com --password-stdin --json
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(help: "The account's email address.") var email: String
    @Flag(help: "Read the password from the first line of standard input instead of the terminal.")
    var passwordStdin = false

    func run() throws {
        let password = try PasswordReader.readNew(fromStandardInput: passwordStdin)
        let client = try options.client()
        let reply = try perform { try client.register(RegisterRequest(email: email, password: password), options: options.plain) }
        try TokenOutput.keepAndPrint(reply, email: email, verb: "Registered", options: options)
    }
}

/// `authctl login`: exchange email and password for tokens and keep them.
struct Login: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log in; the tokens are kept for status, logout and refresh.",
        discussion: """
            The password is asked for on the terminal (not echoed), or read from the first line of standard input with --password-stdin. Never give it as a flag.

            Example:
              authctl login --email alice@example.com
              authctl login --email alice@example.com --password-stdin --json < password.txt
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(help: "The account's email address.") var email: String
    @Flag(help: "Read the password from the first line of standard input instead of the terminal.")
    var passwordStdin = false

    func run() throws {
        let password = try PasswordReader.read(prompt: "Password: ", fromStandardInput: passwordStdin)
        let client = try options.client()
        let reply = try perform { try client.login(LoginRequest(email: email, password: password), options: options.plain) }
        try TokenOutput.keepAndPrint(reply, email: email, verb: "Logged in", options: options)
    }
}

/// `authctl status`: who the kept (or given) token belongs to.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the user behind the kept token (or one given with --token-file, AUTHCTL_TOKEN or --token).",
        discussion: """
            First match: --token or --token-file, then AUTHCTL_TOKEN, then the kept credentials.

            Example:
              authctl status
              authctl status --token-file token.txt --json
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(parsing: .unconditional, help: TokenInput.argumentHelp("An access token to use instead of the kept one"))
    var token: String?
    @Option(help: TokenInput.fileHelp()) var tokenFile: String?

    func run() throws {
        let given = try TokenInput(argument: token, file: tokenFile, variable: TokenInput.accessVariable).resolve()
        let kept = given == nil ? try StoredCredentials.require() : nil
        let options = self.options.following(kept)
        let token = given ?? kept!.token
        let client = try options.client()
        let reply = try perform { try client.status(StatusRequest(), options: options.bearer(token)) }
        options.printer.result([
            ("user_id", .int(reply.userId)), ("email", .string(reply.email)), ("admin", .bool(reply.admin)),
            ("registered_on", .int(reply.registeredOn)),
        ], text: Labels.lines([
            ("User", "\(reply.email) (id \(reply.userId))"),
            ("Admin", reply.admin ? "yes" : "no"),
            ("Registered", isoTime(reply.registeredOn)),
        ]))
    }
}

/// `authctl logout`: revoke the kept (or given) token and forget the kept tokens.
struct Logout: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke the kept token (or one given with --token-file, AUTHCTL_TOKEN or --token) and remove the credentials file.",
        discussion: """
            First match: --token or --token-file, then AUTHCTL_TOKEN, then the kept credentials. The credentials file is removed only when its token was the one revoked. With --all, every session of the account ends (LogoutAll), this one included.

            Example:
              authctl logout
              authctl logout --all --json
              authctl logout --token-file token.txt
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(parsing: .unconditional,
            help: TokenInput.argumentHelp("An access token to revoke instead of the kept one (the credentials file is then left alone)"))
    var token: String?
    @Option(help: TokenInput.fileHelp()) var tokenFile: String?
    @Flag(help: "End every session of the account, not only this one.") var all = false

    func run() throws {
        let given = try TokenInput(argument: token, file: tokenFile, variable: TokenInput.accessVariable).resolve()
        let stored = given == nil
        let kept = stored ? try StoredCredentials.require() : nil
        let options = self.options.following(kept)
        let token = given ?? kept!.token
        let client = try options.client()
        let reply: LogoutReply
        do {
            if all {
                let ended = try perform { try client.logoutAll(LogoutAllRequest(), options: options.bearer(token)) }
                if stored { Credentials.remove(at: Credentials.path()) }
                options.printer.result([("message", .string("Logged out of every session.")), ("sessions", .int(Int64(ended.sessions)))],
                                       text: ["Logged out of every session (\(ended.sessions))."])
                return
            }
            reply = try perform { try client.logout(LogoutRequest(), options: options.bearer(token)) }
        } catch {
            // A token the server refuses is of no further use: forget it too.
            if stored, case .refused(let code, _) = error, code == "UNAUTHENTICATED" { Credentials.remove(at: Credentials.path()) }
            throw error
        }
        if stored { Credentials.remove(at: Credentials.path()) }
        let message = reply.message.isEmpty ? "Successfully logged out." : reply.message
        options.printer.result([("message", .string(message))], text: [message])
    }
}

/// `authctl refresh`: trade the kept refresh token for new tokens.
struct Refresh: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exchange the kept refresh token (or one given with --token-file, AUTHCTL_REFRESH_TOKEN or --token) for new tokens, and keep them.",
        discussion: """
            A refresh token is used up by this call. First match: --token or --token-file, then AUTHCTL_REFRESH_TOKEN (never AUTHCTL_TOKEN, which holds an access token), then the kept credentials.

            Example:
              authctl refresh --json
              authctl refresh --token-file refresh-token.txt
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(parsing: .unconditional,
            help: TokenInput.argumentHelp("A refresh token to use instead of the kept one", variable: TokenInput.refreshVariable))
    var token: String?
    @Option(help: TokenInput.fileHelp(variable: TokenInput.refreshVariable)) var tokenFile: String?

    func run() throws {
        let given = try TokenInput(argument: token, file: tokenFile, variable: TokenInput.refreshVariable).resolve()
        let kept = given == nil ? try StoredCredentials.require(variable: TokenInput.refreshVariable) : nil
        let options = self.options.following(kept)
        let refreshToken = given ?? kept!.refreshToken
        let client = try options.client()
        let reply = try perform { try client.refresh(RefreshRequest(refreshToken: refreshToken), options: options.plain) }
        try TokenOutput.keepAndPrint(reply, email: kept?.email, verb: "Refreshed", options: options)
    }
}

/// Reading the kept credentials.
enum StoredCredentials {
    /// The kept credentials; a usage error naming the other ways to give a token when there are none.
    static func require(variable: String = TokenInput.accessVariable) throws -> Credentials {
        let path = Credentials.path()
        guard let credentials = try Credentials.load(from: path) else {
            throw CLIError.usage("not logged in (no \(path)); run authctl login, or give --token-file, \(variable) or --token")
        }
        return credentials
    }
}

/// Saving and printing the tokens of register, login and refresh.
enum TokenOutput {
    static func keepAndPrint(_ reply: TokenReply, email: String?, verb: String, options: ConnectionOptions) throws {
        let path = Credentials.path()
        try Credentials(server: options.serverAddress, email: email, userId: reply.userId, token: reply.token,
                        expiresAt: reply.expiresAt, refreshToken: reply.refreshToken,
                        refreshExpiresAt: reply.refreshExpiresAt).save(to: path)
        let who = email.map { "\($0) (user \(reply.userId))" } ?? "user \(reply.userId)"
        options.printer.result([
            ("token", .string(reply.token)), ("expires_at", .int(reply.expiresAt)),
            ("refresh_token", .string(reply.refreshToken)), ("refresh_expires_at", .int(reply.refreshExpiresAt)),
            ("user_id", .int(reply.userId)),
        ], text: ["\(verb) as \(who)."] + Labels.lines([
            ("Token expires", "\(isoTime(reply.expiresAt)) (\(Labels.relative(reply.expiresAt)))"),
            ("Refresh until", isoTime(reply.refreshExpiresAt)),
            ("Credentials", path),
        ]))
    }
}
