import ArgumentParser
import AuthCore
import Foundation
import Support

/// `authd admin service …` and `authd admin role …`: service accounts (client credentials, mTLS
/// bindings, scopes) and users' roles, through the core (audited as "by an operator").
extension Authd.Admin {
    struct Service: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Service accounts: client credentials, scopes, client certificates (docs/services.md).",
            discussion: """
                Examples:
                  authd admin service create billing --scopes orders:read,orders:write --dev   # the secret, once
                  authd admin service bind-cert billing --uri-san spiffe://example.org/billing --dev
                  authd admin service rotate-secret billing --dev   # the old secret works for --service-secret-grace
                """,
            subcommands: [Create.self, List.self, Show.self, Disable.self, Enable.self, Delete.self, RotateSecret.self, BindCert.self])

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create a service account; prints its client id and a generated client secret, once.")
            @Argument(help: "The account's name, its client id: 1 to 64 of a-z 0-9 . _ -.") var name: String
            @Option(help: "The scopes it may be granted, comma-separated (e.g. orders:read,orders:write).") var scopes = ""
            @Flag(help: "Print {\"client_id\":…,\"client_secret\":…}.") var json = false
            @OptionGroup var common: CommonOptions
            @OptionGroup var keySet: KeySetOptions

            func run() throws {
                guard let list = ServiceIdentity.parseList(scopes) else {
                    throw ValidationError("--scopes: each scope is 1 to 64 of A-Z a-z 0-9 . _ - : / (at most \(ServiceIdentity.maximumNames))")
                }
                try withServiceCore(common, keySet) { core in
                    let credentials = try core.createService(clientID: name, scopes: list, authority: .operatorCommand)
                    if json {
                        print("{\"client_id\":\(JSONText.quoted(credentials.clientID)),\"client_secret\":\(JSONText.quoted(credentials.clientSecret))}")
                    } else {
                        print("client id: \(credentials.clientID)")
                        print("client secret: \(credentials.clientSecret)")
                        print("(shown once: only its keyed hash is stored)")
                    }
                }
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List service accounts (client id, state, scopes, bound certificate).")
            @OptionGroup var common: CommonOptions
            func run() throws {
                try withOperatorCore(common) { core in
                    for a in try core.services(authority: .operatorCommand) { print(line(a)) }
                }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show one service account.")
            @Argument(help: "The client id.") var name: String
            @OptionGroup var common: CommonOptions
            func run() throws {
                try withOperatorCore(common) { core in
                    let a = try core.service(clientID: name, authority: .operatorCommand)
                    print("client id: \(a.clientID)")
                    print("state: \(a.isDisabled ? "disabled" : "enabled")")
                    print("scopes: \(a.scopes.joined(separator: " "))")
                    print("created: \(a.createdAt)")
                    print("certificate subject: \(a.certificateSubject ?? "-")")
                    print("certificate URI SAN: \(a.certificateURISAN ?? "-")")
                    if let until = a.previousSecretValidUntil, until > Date() { print("previous secret valid until: \(until)") }
                }
            }
        }

        struct Disable: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Disable a service account: no tokens; its tokens refused.")
            @Argument(help: "The client id.") var name: String
            @OptionGroup var common: CommonOptions
            func run() throws {
                try withOperatorCore(common) { core in
                    try core.setServiceDisabled(clientID: name, disabled: true, authority: .operatorCommand)
                    print("\(name) is disabled")
                }
            }
        }

        struct Enable: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Enable a disabled service account (its earlier tokens stay refused).")
            @Argument(help: "The client id.") var name: String
            @OptionGroup var common: CommonOptions
            func run() throws {
                try withOperatorCore(common) { core in
                    try core.setServiceDisabled(clientID: name, disabled: false, authority: .operatorCommand)
                    print("\(name) is enabled")
                }
            }
        }

        struct Delete: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete a service account; its tokens are refused.")
            @Argument(help: "The client id.") var name: String
            @OptionGroup var common: CommonOptions
            func run() throws {
                try withOperatorCore(common) { core in
                    try core.deleteService(clientID: name, authority: .operatorCommand)
                    print("\(name) is deleted")
                }
            }
        }

        struct RotateSecret: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "rotate-secret",
                abstract: "Issue a new client secret (printed once); the old one works for --service-secret-grace more.")
            @Argument(help: "The client id.") var name: String
            @Flag(help: "Print {\"client_id\":…,\"client_secret\":…}.") var json = false
            @OptionGroup var common: CommonOptions
            @OptionGroup var keySet: KeySetOptions
            @OptionGroup var serviceSecrets: ServiceSecretOptions

            func run() throws {
                let grace: Duration
                do { grace = try serviceSecrets.grace(environment: ProcessInfo.processInfo.environment) } catch {
                    throw exitForConfiguration(error)
                }
                try withServiceCore(common, keySet, grace: grace) { core in
                    let (credentials, until) = try core.rotateServiceSecret(clientID: name, authority: .operatorCommand)
                    if json {
                        print("{\"client_id\":\(JSONText.quoted(credentials.clientID)),\"client_secret\":\(JSONText.quoted(credentials.clientSecret))}")
                    } else {
                        print("client secret: \(credentials.clientSecret)")
                        print("previous secret valid until: \(until)")
                    }
                }
            }
        }

        struct BindCert: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "bind-cert",
                abstract: "Bind a verified client certificate (mTLS, --tls-client-ca) to the account: ServiceToken then needs no secret.",
                discussion: "The subject as authd logs it, e.g. \"/CN=billing/O=Example\"; or a URI SAN such as a SPIFFE ID.")
            @Argument(help: "The client id.") var name: String
            @Option(help: "The certificate's subject DN, e.g. /CN=billing.") var subject: String?
            @Option(help: "The certificate's URI SAN, e.g. spiffe://example.org/billing.") var uriSan: String?
            @OptionGroup var common: CommonOptions

            func validate() throws {
                guard (subject == nil) != (uriSan == nil) else { throw ValidationError("give one of --subject and --uri-san") }
            }

            func run() throws {
                try withOperatorCore(common) { core in
                    try core.bindServiceCertificate(clientID: name, certificate: CertificateIdentity(subject: subject, uriSAN: uriSan),
                                                    authority: .operatorCommand)
                    print("\(name) is bound to \(uriSan.map { "URI SAN \($0)" } ?? "subject \(subject ?? "")")")
                }
            }
        }

        static func line(_ a: ServiceAccountRecord) -> String {
            let bound = a.certificateURISAN ?? a.certificateSubject ?? "-"
            return "\(a.clientID)\t\(a.isDisabled ? "disabled" : "enabled")\t\(a.scopes.joined(separator: " "))\t\(bound)"
        }
    }

    struct Role: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Users' roles: carried in their tokens (`roles` claim) from their next login or refresh.",
            subcommands: [Grant.self, Revoke.self, List.self])

        struct Grant: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Grant a user a role.")
            @Argument(help: "The user's email.") var email: String
            @Argument(help: "The role: 1 to 64 of A-Z a-z 0-9 . _ - : /.") var role: String
            @OptionGroup var common: CommonOptions
            func run() throws {
                try withOperatorCore(common) { core in
                    try core.setRole(email: email, role: role, granted: true, authority: .operatorCommand)
                    print("\(email) has the role \(role)")
                }
            }
        }

        struct Revoke: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Withdraw a user's role (tokens issued before keep it until they expire).")
            @Argument(help: "The user's email.") var email: String
            @Argument(help: "The role.") var role: String
            @OptionGroup var common: CommonOptions
            func run() throws {
                try withOperatorCore(common) { core in
                    try core.setRole(email: email, role: role, granted: false, authority: .operatorCommand)
                    print("\(email) no longer has the role \(role)")
                }
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "A user's roles.")
            @Argument(help: "The user's email.") var email: String
            @OptionGroup var common: CommonOptions
            func run() throws {
                try withOperatorCore(common) { core in
                    for role in try core.roles(email: email, authority: .operatorCommand) { print(role) }
                }
            }
        }
    }
}

/// An operator core that can hash client secrets: the key-encryption key from the key-set
/// settings (or --dev), and the secret grace.
private func withServiceCore(_ common: CommonOptions, _ keySet: KeySetOptions, grace: Duration? = nil,
                             _ body: (AuthCore) throws -> Void) throws {
    try withOperatorCore(common, configure: { configuration in
        let set = try keySet.required(common, environment: ProcessInfo.processInfo.environment, missing:
            "service client secrets need the key-encryption key: give --key-encryption-key-file (or --dev)")
        configuration.serviceSecretKey = set.encryptionKey
        if let grace { configuration.serviceSecretGrace = grace }
    }, body)
}
