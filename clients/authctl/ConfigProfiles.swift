import Foundation

/// One named server set-up (`authctl config set NAME …`): where the server is and how to trust it.
struct Profile: Codable, Equatable {
    var server: String?
    var ca: String?
    var cert: String?
    var key: String?
}

/// The profiles and the one in use, kept in `$XDG_CONFIG_HOME/authctl/config.json` (default
/// `~/.config/authctl/config.json`, mode 0600, written atomically). Each profile keeps its own
/// credentials (`credentials.d/NAME`), so logging in through one never touches another's session.
struct ProfileStore: Codable, Equatable {
    /// The profile `config use` chose; nil: none (the settings come from flags and environment only).
    var current: String?
    var profiles: [String: Profile] = [:]

    /// The variable that selects a profile for one run; `--profile NAME` sets it (see `GlobalArguments`).
    static let variable = "AUTHCTL_PROFILE"

    /// `$XDG_CONFIG_HOME/authctl` (default `~/.config/authctl`).
    static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base: String
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            base = xdg
        } else {
            base = (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        }
        return base + "/authctl"
    }

    static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        directory(environment: environment) + "/config.json"
    }

    /// The kept profiles (none when there is no file).
    static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws(CLIError) -> ProfileStore {
        let path = path(environment: environment)
        guard let data = FileManager.default.contents(atPath: path) else { return ProfileStore() }
        do { return try JSONDecoder().decode(ProfileStore.self, from: data) } catch {
            throw .usage("the profiles file \(path) is damaged; fix or remove it")
        }
    }

    func save(environment: [String: String] = ProcessInfo.processInfo.environment) throws(CLIError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        do {
            try PrivateFile.write(try encoder.encode(self), to: Self.path(environment: environment))
        } catch let error as CLIError {
            throw error
        } catch {
            throw .local("cannot write \(Self.path(environment: environment)): \(error)")
        }
    }

    /// The profile this run uses: `--profile` / `AUTHCTL_PROFILE`, else the one `config use` chose.
    static func selectedName(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let name = environment[variable], !name.isEmpty { return name }
        return (try? load(environment: environment))?.current
    }

    /// The selected profile's settings; nil when none is selected. A selected name with no
    /// profile behind it is a usage error.
    static func selected(environment: [String: String] = ProcessInfo.processInfo.environment) throws(CLIError) -> (name: String, profile: Profile)? {
        let store = try load(environment: environment)
        let chosen = environment[variable].flatMap { $0.isEmpty ? nil : $0 } ?? store.current
        guard let name = chosen else { return nil }
        guard let profile = store.profiles[name] else {
            throw .usage("no profile \(name.debugDescription) (authctl config list shows them; authctl config set \(name) --server HOST:PORT makes it)")
        }
        return (name, profile)
    }

    /// Profile names: letters, digits, `.`, `_`, `-`, not starting with `.`, at most 64 characters
    /// (a name is part of a file name).
    static func checkName(_ name: String) throws(CLIError) {
        let allowed = name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
        }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, !name.hasPrefix(".") else {
            throw .usage("profile name \(name.debugDescription): use letters, digits, '.', '_' and '-' (not first), at most 64")
        }
    }
}

/// Writing a file only its owner may read: a new file created with mode 0600 in a 0700 folder,
/// then renamed over the old one (readers never see half a file).
enum PrivateFile {
    static func write(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError.local("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == data.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CLIError.local("cannot write \(path)")
        }
    }
}
