import ArgumentParser
import AuthAPI
import Foundation
import RPCCore

/// The caller's access token for the account commands: --token-file, AUTHCTL_TOKEN, or the kept credentials.
struct CallerToken: ParsableArguments {
    @Option(help: TokenInput.fileHelp()) var tokenFile: String?

    /// The caller: the token given, else the kept credentials' (whose server the options then follow).
    func resolve(_ options: ConnectionOptions) throws -> Caller {
        let given = try TokenInput(argument: nil, file: tokenFile, variable: TokenInput.accessVariable).resolve()
        let kept = given == nil ? try StoredCredentials.require() : nil
        return Caller(options: options.following(kept), token: given ?? kept!.token, kept: kept)
    }
}

/// An account command's caller: where to connect, the access token, and the kept credentials when
/// the token came from them.
struct Caller {
    var options: ConnectionOptions
    var token: String
    var kept: Credentials?

    var printer: Printer { options.printer }

    /// One RPC with the token as bearer; a failure (connecting or the call's) becomes a `CLIError`.
    func call<Reply>(_ body: (Auth.Client, CallOptions) throws -> Reply) throws(CLIError) -> Reply {
        let client = try options.client()
        return try perform { try body(client, options.bearer(token)) }
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
        let caller = try self.caller.resolve(options)
        let current = try PasswordReader.read(prompt: "Current password: ", fromStandardInput: passwordStdin)
        let new = try PasswordReader.read(prompt: "New password: ", fromStandardInput: passwordStdin)
        try PasswordReader.confirm(new, prompt: "New password (again): ", fromStandardInput: passwordStdin)
        let reply = try caller.call { client, bearer in
            try client.changePassword(ChangePasswordRequest(currentPassword: current, newPassword: new), options: bearer)
        }
        try TokenOutput.keepAndPrint(reply, email: caller.kept?.email, verb: "Password changed; logged in", options: caller.options)
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
            let caller = try self.caller.resolve(options)
            let reply = try caller.call { client, bearer in try client.listSessions(ListSessionsRequest(), options: bearer) }
            caller.printer.result([("sessions", .array(reply.sessions.map { s in
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
            let caller = try self.caller.resolve(options)
            _ = try caller.call { client, bearer in try client.revokeSession(RevokeSessionRequest(sid: sid), options: bearer) }
            caller.printer.result([("revoked", .string(sid))], text: ["Session \(sid) ended."])
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
        let caller = try self.caller.resolve(options)
        let password = try PasswordReader.read(prompt: "Password: ", fromStandardInput: passwordStdin)
        _ = try caller.call { client, bearer in try client.deleteAccount(DeleteAccountRequest(password: password), options: bearer) }
        if caller.kept != nil { Credentials.remove(at: Credentials.path()) }
        caller.printer.result([("deleted", .bool(true))], text: ["Account deleted."])
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
        try PasswordReader.confirm(password, prompt: "New password (again): ", fromStandardInput: passwordStdin)
        let client = try options.client()
        _ = try perform {
            try client.resetPassword(ResetPasswordRequest(email: email, code: code, newPassword: password), options: options.plain)
        }
        options.printer.result([("reset", .bool(true))], text: ["Password set; log in with it."])
    }
}
