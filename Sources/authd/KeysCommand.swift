import ArgumentParser
import AuthCore
import Foundation
import Logging
import MariaDBStore
import Support

extension Authd {
    /// Operator commands on the key set in the database (docs/keys.md).
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage the token signing keys: generate, list, retire, print the JWK Set.",
            discussion: """
                Rotation: `authd keys generate` (published at once, signs after --key-publish-lead), then once it signs, \
                `authd keys retire OLD_KID` (stops signing at once; published until its last token has expired). \
                Every instance on the database follows within the revocation poll interval.
                Example: authd keys generate --dev && authd keys list --dev
                """,
            subcommands: [Generate.self, List.self, Retire.self, JWKS.self])

        struct Generate: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a key: published now, signing after --key-publish-lead.")
            @Option(help: "The key's algorithm (default: --jwt-alg's, else EdDSA).") var alg: TokenAlgorithm?
            @OptionGroup var common: CommonOptions
            @OptionGroup var keySet: KeySetOptions

            func run() throws {
                let settings = try operatorSettings(common)
                let configuration: KeySetConfiguration
                do {
                    configuration = try keySet.required(common, environment: ProcessInfo.processInfo.environment,
                                                        missing: "a key set needs --key-encryption-key-file (or --dev)")
                } catch let error as ConfigurationError {
                    throw exitForConfiguration(error)
                }
                try keysCommand("generate", settings) { store in
                    let key = try KeySetAdministration.generate(alg ?? configuration.signingAlgorithm, store: store,
                                                                encryptionKey: configuration.encryptionKey,
                                                                publishLead: configuration.publishLead, now: Date())
                    print("generated \(key.kid) (\(key.algorithm.rawValue)): published now, signs from \(isoDate(key.signsFrom))")
                }
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the keys: kid, algorithm, state, dates.")
            @Flag(help: "One JSON object per key, one per line.") var json = false
            @OptionGroup var common: CommonOptions

            func run() throws {
                let settings = try operatorSettings(common)
                try keysCommand("list", settings) { store in
                    let now = Date()
                    let keys = try store.signingKeys()
                    if json {
                        for k in keys {
                            let fields: [(String, String)] = [
                                ("kid", JSONText.quoted(k.kid)), ("alg", JSONText.quoted(k.algorithm.rawValue)),
                                ("state", JSONText.quoted(k.state(at: now).rawValue)), ("created", JSONText.quoted(isoDate(k.createdAt))),
                                ("signs_from", JSONText.quoted(isoDate(k.signsFrom))),
                                ("retired_at", k.retiredAt.map { JSONText.quoted(isoDate($0)) } ?? "null"),
                                ("expires", k.expiresAt.map { JSONText.quoted(isoDate($0)) } ?? "null"),
                            ]
                            print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
                        }
                    } else {
                        print("KID                 ALG    STATE      CREATED               SIGNS FROM            RETIRED               EXPIRES")
                        for k in keys {
                            let cells = [k.kid.padding(toLength: 19, withPad: " ", startingAt: 0), k.algorithm.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0),
                                         k.state(at: now).rawValue.padding(toLength: 10, withPad: " ", startingAt: 0),
                                         isoDate(k.createdAt), isoDate(k.signsFrom),
                                         k.retiredAt.map(isoDate) ?? "-                   ", k.expiresAt.map(isoDate) ?? "-"]
                            print(cells.joined(separator: " "))
                        }
                    }
                }
            }
        }

        struct Retire: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Stop a key signing now; it stays published until the tokens it signed have expired (--access-ttl + --leeway).")
            @Argument(help: "The key's kid.") var kid: String
            @Flag(help: "Retire it even if no other key of its algorithm signs or will.") var force = false
            @Option(SettingTable.accessTtl) var accessTtl: Int?
            @Option(SettingTable.leeway) var leeway: Int?
            @OptionGroup var common: CommonOptions

            func run() throws {
                let settings = try operatorSettings(common)
                let env = ProcessInfo.processInfo.environment
                let lifetime: Duration
                do {
                    lifetime = try SettingTable.accessTtl.resolve(flag: accessTtl, environment: env)
                        + SettingTable.leeway.resolve(flag: leeway, environment: env)
                } catch {
                    throw exitForConfiguration(error)
                }
                try keysCommand("retire", settings) { store in
                    let key = try KeySetAdministration.retire(kid, store: store, longestTokenLifetime: lifetime, now: Date(), force: force)
                    print("retired \(key.kid): no longer signs; published until \(isoDate(key.expiresAt ?? Date()))")
                }
            }
        }

        struct JWKS: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "jwks", abstract: "Print the public keys as a JWK Set (RFC 7517); HS256 keys are never published.")
            @OptionGroup var common: CommonOptions

            func run() throws {
                let settings = try operatorSettings(common)
                try keysCommand("jwks", settings) { store in
                    print(try KeySetAdministration.jwks(store: store, now: Date()))
                }
            }
        }
    }
}

extension KeySetOptions {
    /// The key-set settings of an operator command that cannot do without them (--dev makes them
    /// from the dev material); `missing` is the configuration error when they are not given.
    func required(_ common: CommonOptions, environment env: [String: String], missing: String) throws -> KeySetConfiguration {
        let dev = try common.dev ? devMaterial(common, env) : nil
        guard let set = try configuration(dev: dev, environment: env) else { throw ConfigurationError(missing) }
        return set
    }
}

/// Runs a keys subcommand on the configured database; a failure prints its message and exits 1.
private func keysCommand(_ name: String, _ settings: Settings, _ body: (MariaDBStore) throws -> Void) throws {
    do {
        try body(try openStore(settings.database, wait: 0, logger: Logger(label: "authd")))
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("authd keys \(name): \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// UTC, to the second: 2026-11-30T07:23:12Z.
func isoDate(_ date: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: date)
}
