import ArgumentParser
import AuthCore
import Foundation
import Support

/// `authd admin user|users|disable|enable|delete|reset-password|audit`: account administration
/// for operators on the server, through the same core operations as the admin RPCs (audited as
/// "by an operator").
extension Authd.Admin {
    struct UserCommand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "user", abstract: "Create accounts.",
                                                        subcommands: [Create.self])

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create an account (the way in when --registration closed).",
                discussion: "Without --password-stdin a random password is generated and printed once.")
            @Argument(help: "The user's email.") var email: String
            @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false
            @OptionGroup var common: CommonOptions

            func run() throws {
                var password = TokenID.random().description + TokenID.random().description
                if passwordStdin {
                    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                        throw ValidationError("no password on standard input")
                    }
                    password = line
                }
                try withOperatorCore(common) { core in
                    let id = try core.createUser(email: email, password: password, authority: .operatorCommand)
                    print("created user \(id): \(email)")
                    if !passwordStdin { print("password: \(password)") }
                }
            }
        }
    }

    struct Users: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users (id, email, admin, disabled, registered, last login).")
        @Option(help: "Only emails starting with this.") var emailPrefix = ""
        @Option(help: "Users at most.") var limit = 500
        @OptionGroup var common: CommonOptions

        func run() throws {
            try withOperatorCore(common) { core in
                var token = "", left = limit
                repeat {
                    let page = try core.users(emailPrefix: emailPrefix, pageToken: token, pageSize: min(left, Paging.maximumSize),
                                              authority: .operatorCommand)
                    for u in page.items {
                        print("\(u.userID)\t\(u.email)\t\(u.isAdmin ? "admin" : "-")\t\(u.isDisabled ? "disabled" : "-")\t"
                              + "\(u.registeredAt)\t\(u.lastLoginAt.map { "\($0)" } ?? "never")")
                    }
                    left -= page.items.count
                    token = page.nextPageToken ?? ""
                } while !token.isEmpty && left > 0
            }
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user: no login or refresh; its tokens refused.")
        @Argument(help: "The user's email.") var email: String
        @OptionGroup var common: CommonOptions
        func run() throws {
            try withOperatorCore(common) { core in
                try core.setDisabled(email: email, disabled: true, authority: .operatorCommand)
                print("\(email) is disabled")
            }
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled user again.")
        @Argument(help: "The user's email.") var email: String
        @OptionGroup var common: CommonOptions
        func run() throws {
            try withOperatorCore(common) { core in
                try core.setDisabled(email: email, disabled: false, authority: .operatorCommand)
                print("\(email) is enabled")
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a user: its email and password hash go; its audit rows keep its id, not its email.")
        @Argument(help: "The user's email.") var email: String
        @OptionGroup var common: CommonOptions
        func run() throws {
            try withOperatorCore(common) { core in
                try core.deleteUser(email: email, authority: .operatorCommand)
                print("\(email) is deleted")
            }
        }
    }

    struct ResetPassword: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password",
            abstract: "Issue a one-time password reset code (valid 15 minutes), printed once.")
        @Argument(help: "The user's email.") var email: String
        @OptionGroup var common: CommonOptions
        func run() throws {
            try withOperatorCore(common) { core in
                let code = try core.issueResetCode(email: email, authority: .operatorCommand)
                print("reset code: \(code.code)")
                print("valid until: \(code.expiresAt)")
            }
        }
    }

    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The audit trail, newest first.")
        @Option(help: "Only events of this user.") var email = ""
        @Option(help: "Only events of this kind (login_ok, user_disabled, …).") var kind = ""
        @Option(help: "Events at most.") var limit = 100
        @OptionGroup var common: CommonOptions
        func run() throws {
            try withOperatorCore(common) { core in
                let page = try core.auditEvents(email: email, userID: 0, kind: kind, since: nil, pageToken: "",
                                                pageSize: min(max(limit, 1), Paging.maximumSize), authority: .operatorCommand)
                for e in page.items {
                    print("\(e.at)\t\(e.kind.rawValue)\tuser=\(e.userID.map(String.init) ?? "-")\t\(e.email ?? "-")\t"
                          + "\(e.clientAddress ?? "-")\t\(e.detail ?? "")\(e.count > 1 ? "\t×\(e.count)" : "")")
                }
            }
        }
    }
}
