import ArgumentParser
import AuthAPI
import Foundation

/// The caller's access token for the account commands: --token-file, AUTHCTL_TOKEN, or the kept credentials.
struct CallerToken: ParsableArguments {
    @Option(help: TokenInput.fileHelp()) var tokenFile: String?

    /// The connection options (following the kept credentials' server), the token, and the kept credentials when used.
    func resolve(_ options: ConnectionOptions) throws -> (options: ConnectionOptions, token: String, kept: Credentials?) {
        let given = try TokenInput(argument: nil, file: tokenFile, variable: TokenInput.accessVariable).resolve()
        let kept = given == nil ? try StoredCredentials.require() : nil
        return (options.following(kept), given ?? kept!.token, kept)
    }
}

/// `authctl passwd`: change the password; every session ends and the new one's tokens are kept.
struct Passwd: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change your password: every session of the account ends, and this one gets new tokens (kept).",
        discussion: """
            Asks for the current password and the new one (twice) on the terminal, not echoed; with --password-stdin the current password is the first line of standard input and the new one the second.

            Example:
              printf '%s\\n%s\\n' "$OLD" "$NEW" | authctl passwd --password-stdin --json
            """)
    @OptionGroup var options: ConnectionOptions
    @OptionGroup var caller: CallerToken
    @Flag(help: "Read the current password (first line) and the new one (second line) from standard input.")
    var passwordStdin = false

    func run() throws {
        let (options, token, kept) = try caller.resolve(self.options)
        let current = try PasswordReader.read(prompt: "Current password: ", fromStandardInput: passwordStdin)
        let new = try PasswordReader.read(prompt: "New password: ", fromStandardInput: passwordStdin)
        if !passwordStdin {
            let again = try PasswordReader.read(prompt: "New password (again): ", fromStandardInput: false)
            guard again == new else { throw CLIError.usage("the passwords differ") }
        }
        let client = try options.client()
        let reply = try perform {
            try client.changePassword(ChangePasswordRequest(currentPassword: current, newPassword: new), options: options.bearer(token))
        }
        try TokenOutput.keepAndPrint(reply, email: kept?.email, verb: "Password changed; logged in", options: options)
    }
}

/// `authctl sessions [--json]` and `authctl sessions revoke SID`.
struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List your sessions, or end one (sessions revoke SID).",
        subcommands: [List.self, Revoke.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List your sessions: id, created, last refreshed, client address, and which is this one.",
            discussion: "Example: authctl sessions --json")
        @OptionGroup var options: ConnectionOptions
        @OptionGroup var caller: CallerToken

        func run() throws {
            let (options, token, _) = try caller.resolve(self.options)
            let client = try options.client()
            let reply = try perform { try client.listSessions(ListSessionsRequest(), options: options.bearer(token)) }
            options.printer.result([("sessions", .array(reply.sessions.map { s in
                .object([("sid", .string(s.sid)), ("created_at", .int(s.createdAt)), ("last_refreshed_at", .int(s.lastRefreshedAt)),
                         ("client_address", .string(s.clientAddress)), ("current", .bool(s.current))])
            }))], text: reply.sessions.map { s in
                "\(s.current ? "*" : " ") \(s.sid)  created \(isoTime(s.createdAt))  refreshed \(isoTime(s.lastRefreshedAt))  "
                    + (s.clientAddress.isEmpty ? "-" : s.clientAddress)
            })
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End one of your sessions (its tokens are refused within the revocation bound).",
            discussion: "Example: authctl sessions revoke 3q2-7wXh_0Kf1mYbQ9Zr1A")
        @Argument(help: "The session id, as authctl sessions lists it.") var sid: String
        @OptionGroup var options: ConnectionOptions
        @OptionGroup var caller: CallerToken

        func run() throws {
            let (options, token, _) = try caller.resolve(self.options)
            let client = try options.client()
            _ = try perform { try client.revokeSession(RevokeSessionRequest(sid: sid), options: options.bearer(token)) }
            options.printer.result([("revoked", .string(sid))], text: ["Session \(sid) ended."])
        }
    }
}

/// `authctl delete-account`: delete your account (asks for the password).
struct DeleteAccount: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-account",
        abstract: "Delete your account: its email and password go, every session ends; the kept credentials are removed.",
        discussion: "Example: authctl delete-account --password-stdin < password.txt")
    @OptionGroup var options: ConnectionOptions
    @OptionGroup var caller: CallerToken
    @Flag(help: "Read the password from the first line of standard input instead of the terminal.")
    var passwordStdin = false

    func run() throws {
        let (options, token, kept) = try caller.resolve(self.options)
        let password = try PasswordReader.read(prompt: "Password: ", fromStandardInput: passwordStdin)
        let client = try options.client()
        _ = try perform { try client.deleteAccount(DeleteAccountRequest(password: password), options: options.bearer(token)) }
        if kept != nil { Credentials.remove(at: Credentials.path()) }
        options.printer.result([("deleted", .bool(true))], text: ["Account deleted."])
    }
}

/// `authctl reset-password --email E --code C`: set a new password with an administrator's reset code.
struct ResetPassword: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset-password",
        abstract: "Set a new password with a one-time reset code from an administrator; every session of the account ends.",
        discussion: "Example: authctl reset-password --email alice@example.com --code \"$CODE\" --password-stdin < new-password.txt")
    @OptionGroup var options: ConnectionOptions
    @Option(help: "The account's email address.") var email: String
    @Option(help: "The reset code.") var code: String
    @Flag(help: "Read the new password from the first line of standard input instead of the terminal.")
    var passwordStdin = false

    func run() throws {
        let password = try PasswordReader.read(prompt: "New password: ", fromStandardInput: passwordStdin)
        if !passwordStdin {
            let again = try PasswordReader.read(prompt: "New password (again): ", fromStandardInput: false)
            guard again == password else { throw CLIError.usage("the passwords differ") }
        }
        let client = try options.client()
        _ = try perform {
            try client.resetPassword(ResetPasswordRequest(email: email, code: code, newPassword: password), options: options.plain)
        }
        options.printer.result([("reset", .bool(true))], text: ["Password set; log in with it."])
    }
}
