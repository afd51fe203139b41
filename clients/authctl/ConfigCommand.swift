import ArgumentParser
import Foundation

/// `authctl config`: named profiles (server, CA, client certificate), and the one in use.
struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep named profiles (server, CA, client certificate) and choose the one in use.",
        discussion: """
            Profiles live in $XDG_CONFIG_HOME/authctl/config.json (default ~/.config/authctl, mode 0600). Each keeps its own credentials (credentials.d/NAME), so logging in to one never ends the session of another.

            Which profile a command uses: --profile NAME, else AUTHCTL_PROFILE, else the one `config use` chose. Its settings come last: flags win over environment variables, which win over the profile.

            Example:
              authctl config set dev --server 127.0.0.1:7443 --ca .data/dev/ca.pem
              authctl config set prod --server auth.example.com:7443 --ca prod-ca.pem --cert me.pem --key me.key
              authctl config use dev
              authctl --profile prod login --email alice@example.com
              authctl config list
            """,
        subcommands: [SetProfile.self, UseProfile.self, ListProfiles.self, RemoveProfile.self])
}

/// The output options of the config commands (they connect to nothing).
struct ConfigOutput: ParsableArguments {
    @Flag(help: "Print exactly one JSON object on standard output (errors included).")
    var json = false
}

/// `authctl config set NAME --server … --ca …`: make or change a profile.
struct SetProfile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Make or change a profile; options not given keep their value.",
        discussion: """
            File paths are kept absolute. The first profile made becomes the one in use.

            Example:
              authctl config set dev --server 127.0.0.1:7443 --ca .data/dev/ca.pem
            """)

    @Argument(help: "The profile's name (letters, digits, '.', '_', '-').") var name: String
    @Option(help: ArgumentHelp("Server address; several as host:port,host:port.", valueName: "host:port")) var server: String?
    @Option(help: ArgumentHelp("PEM CA certificates the server's certificate must chain to.", valueName: "file")) var ca: String?
    @Option(help: ArgumentHelp("PEM client certificate (mTLS).", valueName: "file")) var cert: String?
    @Option(help: ArgumentHelp("PEM private key of --cert.", valueName: "file")) var key: String?
    @OptionGroup var output: ConfigOutput

    func run() throws {
        try ProfileStore.checkName(name)
        if let server {
            for address in server.split(separator: ",", omittingEmptySubsequences: false) {
                _ = try ConnectionOptions.parseAddress(address.trimmingCharacters(in: .whitespaces))
            }
        }
        var store = try ProfileStore.load()
        var profile = store.profiles[name] ?? Profile()
        if let server { profile.server = server }
        for (flag, given, keyPath) in [("--ca", ca, \Profile.ca), ("--cert", cert, \.cert), ("--key", key, \.key)] {
            guard let given else { continue }
            guard FileManager.default.isReadableFile(atPath: given) else { throw CLIError.usage("\(flag): cannot read \(given)") }
            profile[keyPath: keyPath] = URL(fileURLWithPath: given).standardizedFileURL.path
        }
        guard (profile.cert == nil) == (profile.key == nil) else { throw CLIError.usage("--cert and --key go together") }
        store.profiles[name] = profile
        if store.current == nil { store.current = name }
        try store.save()
        Printer(json: output.json).result(ProfileList.fields(name, profile, current: store.current == name),
                                          text: ["Profile \(name) saved in \(ProfileStore.path())."])
    }
}

/// `authctl config use NAME`: the profile commands use when none is given.
struct UseProfile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "use", abstract: "Use this profile from now on (unless --profile or AUTHCTL_PROFILE says otherwise).",
        discussion: """
            Example:
              authctl config use prod
            """)

    @Argument(help: "A profile made with authctl config set.") var name: String
    @OptionGroup var output: ConfigOutput

    func run() throws {
        var store = try ProfileStore.load()
        guard let profile = store.profiles[name] else {
            throw CLIError.usage("no profile \(name.debugDescription) (authctl config list shows them)")
        }
        store.current = name
        try store.save()
        Printer(json: output.json).result(ProfileList.fields(name, profile, current: true), text: ["Using profile \(name)."])
    }
}

/// `authctl config list`: every profile, the one in use marked.
struct ListProfiles: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the profiles; * marks the one in use.",
        discussion: """
            Example:
              authctl config list --json
            """)

    @OptionGroup var output: ConfigOutput

    func run() throws {
        let store = try ProfileStore.load()
        let selected = ProfileStore.selectedName()
        let names = store.profiles.keys.sorted()
        let lines = names.map { name -> String in
            let profile = store.profiles[name]!
            let parts = [profile.server.map { "server \($0)" }, profile.ca.map { "ca \($0)" },
                         profile.cert.map { "cert \($0)" }].compactMap { $0 }
            return "\(name == selected ? "*" : " ") \(name)  \(parts.joined(separator: ", "))"
        }
        Printer(json: output.json).result([
            ("current", selected.map { .string($0) } ?? .null),
            ("profiles", .array(names.map { .object(ProfileList.fields($0, store.profiles[$0]!, current: $0 == selected)) })),
        ], text: lines.isEmpty ? ["No profiles (authctl config set NAME --server HOST:PORT makes one)."] : lines)
    }
}

/// `authctl config remove NAME`: forget a profile and its kept credentials.
struct RemoveProfile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Forget a profile and its kept credentials.",
        discussion: """
            Example:
              authctl config remove staging
            """)

    @Argument(help: "The profile to forget.") var name: String
    @OptionGroup var output: ConfigOutput

    func run() throws {
        try ProfileStore.checkName(name)
        var store = try ProfileStore.load()
        guard store.profiles.removeValue(forKey: name) != nil else {
            throw CLIError.usage("no profile \(name.debugDescription) (authctl config list shows them)")
        }
        if store.current == name { store.current = nil }
        try store.save()
        Credentials.remove(at: Credentials.path(profile: name))
        Printer(json: output.json).result([("removed", .string(name))], text: ["Profile \(name) removed."])
    }
}

/// A profile as JSON fields.
enum ProfileList {
    static func fields(_ name: String, _ profile: Profile, current: Bool) -> [(String, JSONValue)] {
        func value(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        return [("name", .string(name)), ("server", value(profile.server)), ("ca", value(profile.ca)),
                ("cert", value(profile.cert)), ("key", value(profile.key)), ("current", .bool(current))]
    }
}
