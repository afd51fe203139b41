import ArgumentParser
import AuthAPI
import Foundation

/// `authctl keys`: the public keys that verify tokens offline (the JWK Set of `Keys`).
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Print the server's public token keys (a JWK Set, RFC 7517) for verifying tokens offline.",
        discussion: """
            With --json the output is exactly the JWK Set document (give it to a JWT library); without, the same \
            document indented, then how long it may be cached.

            Example:
              authctl keys --json > jwks.json
            """)

    @OptionGroup var options: ConnectionOptions

    func run() throws {
        let client = try options.client()
        let reply = try perform { try client.keys(KeysRequest(), options: options.plain) }
        if options.json {
            print(reply.jwksJson)
            return
        }
        let document = try? JSONSerialization.jsonObject(with: Data(reply.jwksJson.utf8))
        let pretty = document.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.prettyPrinted, .sortedKeys]) }
        print(pretty.map { String(decoding: $0, as: UTF8.self) } ?? reply.jwksJson)
        print("Cache for \(reply.maxAgeSeconds) s; fetch again on an unknown kid.")
    }
}
