import ArgumentParser
import AuthAPI
import Foundation

/// `authctl admin …`: account administration with an administrator's token.
struct Admin: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Administer accounts (an administrator's token): users, disable, enable, delete, reset-password, audit, create-user.",
        subcommands: [Users.self, Disable.self, Enable.self, Delete.self, ResetCode.self, Audit.self, CreateUser.self])

    struct Users: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List users: id, email, admin, disabled, registered, last login.",
            discussion: "Example: authctl admin users --email-prefix alice --json")
        @OptionGroup var options: ConnectionOptions
        @OptionGroup var caller: CallerToken
        @Option(help: "Only emails starting with this.") var emailPrefix = ""
        @Option(help: "Users per page (at most 500).") var pageSize: Int32 = 50
        @Option(help: "The page after this one (next_page_token of the previous page).") var pageToken = ""

        func run() throws {
            let caller = try self.caller.resolve(options)
            let reply = try caller.call { client, bearer in
                try client.listUsers(ListUsersRequest(emailPrefix: emailPrefix, pageToken: pageToken, pageSize: pageSize),
                                     options: bearer)
            }
            caller.printer.result([("users", .array(reply.users.map { u in
                .object([("user_id", .int(u.userId)), ("email", .string(u.email)), ("admin", .bool(u.admin)),
                         ("disabled", .bool(u.disabled)), ("registered_at", .int(u.registeredAt)), ("last_login_at", .int(u.lastLoginAt))])
            })), ("next_page_token", .string(reply.nextPageToken))], text: reply.users.map { u in
                "\(u.userId)\t\(u.email)\t\(u.admin ? "admin" : "-")\t\(u.disabled ? "disabled" : "-")\t\(isoTime(u.registeredAt))\t"
                    + (u.lastLoginAt == 0 ? "never" : isoTime(u.lastLoginAt))
            } + (reply.nextPageToken.isEmpty ? [] : ["next page: --page-token \(reply.nextPageToken)"]))
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user: no login or refresh; its tokens are refused.")
        @Argument(help: "The user's email.") var email: String
        @OptionGroup var options: ConnectionOptions
        @OptionGroup var caller: CallerToken
        func run() throws {
            let caller = try self.caller.resolve(options)
            _ = try caller.call { client, bearer in try client.disableUser(DisableUserRequest(email: email), options: bearer) }
            caller.printer.result([("disabled", .string(email))], text: ["\(email) is disabled."])
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled user again.")
        @Argument(help: "The user's email.") var email: String
        @OptionGroup var options: ConnectionOptions
        @OptionGroup var caller: CallerToken
        func run() throws {
            let caller = try self.caller.resolve(options)
            _ = try caller.call { client, bearer in try client.enableUser(EnableUserRequest(email: email), options: bearer) }
            caller.printer.result([("enabled", .string(email))], text: ["\(email) is enabled."])
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user (its audit rows keep its id, not its email).")
        @Argument(help: "The user's email.") var email: String
        @OptionGroup var options: ConnectionOptions
        @OptionGroup var caller: CallerToken
        func run() throws {
            let caller = try self.caller.resolve(options)
            _ = try caller.call { client, bearer in try client.deleteUser(DeleteUserRequest(email: email), options: bearer) }
            caller.printer.result([("deleted", .string(email))], text: ["\(email) is deleted."])
        }
    }

    struct ResetCode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password",
            abstract: "Issue a one-time password reset code for a user (valid 15 minutes; shown once).")
        @Argument(help: "The user's email.") var email: String
        @OptionGroup var options: ConnectionOptions
        @OptionGroup var caller: CallerToken
        func run() throws {
            let caller = try self.caller.resolve(options)
            let reply = try caller.call { client, bearer in try client.issueResetCode(IssueResetCodeRequest(email: email), options: bearer) }
            caller.printer.result([("code", .string(reply.code)), ("expires_at", .int(reply.expiresAt))],
                                   text: ["Reset code for \(email): \(reply.code)", "Valid until \(isoTime(reply.expiresAt))."])
        }
    }

    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The audit trail, newest first.",
            discussion: "Example: authctl admin audit --email alice@example.com --kind login_failed --since 2025-01-01T00:00:00Z --json")
        @OptionGroup var options: ConnectionOptions
        @OptionGroup var caller: CallerToken
        @Option(help: "Only events of this user.") var email = ""
        @Option(help: "Only events of this kind (login_ok, login_failed, user_disabled, …).") var kind = ""
        @Option(help: "Only events at or after this time: ISO 8601 (2025-01-31T12:00:00Z) or seconds since 1970.") var since: String?
        @Option(help: "Events per page (at most 500).") var pageSize: Int32 = 50
        @Option(help: "The page after this one (next_page_token of the previous page).") var pageToken = ""

        func run() throws {
            var sinceSeconds: Int64 = 0
            if let since {
                if let s = Int64(since) {
                    sinceSeconds = s
                } else if let date = try? Date(since, strategy: .iso8601) {
                    sinceSeconds = Int64(date.timeIntervalSince1970)
                } else {
                    throw CLIError.usage("--since: not an ISO 8601 time or a number of seconds")
                }
            }
            let caller = try self.caller.resolve(options)
            let reply = try caller.call { client, bearer in
                try client.auditEvents(AuditEventsRequest(email: email, kind: kind, since: sinceSeconds, pageToken: pageToken,
                                                          pageSize: pageSize), options: bearer)
            }
            caller.printer.result([("events", .array(reply.events.map { e in
                .object([("at_ms", .int(e.atMs)), ("kind", .string(e.kind)), ("user_id", .int(e.userId)), ("email", .string(e.email)),
                         ("client_address", .string(e.clientAddress)), ("detail", .string(e.detail)), ("count", .int(e.count))])
            })), ("next_page_token", .string(reply.nextPageToken))], text: reply.events.map { e in
                "\(isoTime(e.atMs / 1000))\t\(e.kind)\tuser=\(e.userId == 0 ? "-" : String(e.userId))\t\(e.email.isEmpty ? "-" : e.email)\t"
                    + "\(e.clientAddress.isEmpty ? "-" : e.clientAddress)\t\(e.detail)\(e.count > 1 ? "\t×\(e.count)" : "")"
            } + (reply.nextPageToken.isEmpty ? [] : ["next page: --page-token \(reply.nextPageToken)"]))
        }
    }

    struct CreateUser: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-user",
            abstract: "Create an account (the way in when registration is closed).",
            discussion: "The password is asked for twice on the terminal, or read from the first line of standard input with --password-stdin.")
        @Argument(help: "The new user's email.") var email: String
        @OptionGroup var options: ConnectionOptions
        @OptionGroup var caller: CallerToken
        @Flag(help: "Read the password from the first line of standard input instead of the terminal.")
        var passwordStdin = false

        func run() throws {
            let caller = try self.caller.resolve(options)
            let password = try PasswordReader.read(prompt: "Password: ", fromStandardInput: passwordStdin)
            try PasswordReader.confirm(password, prompt: "Password (again): ", fromStandardInput: passwordStdin)
            let reply = try caller.call { client, bearer in
                try client.createUser(CreateUserRequest(email: email, password: password), options: bearer)
            }
            caller.printer.result([("user_id", .int(reply.userId)), ("email", .string(email))],
                                   text: ["Created \(email) (user \(reply.userId))."])
        }
    }
}
