import Foundation

/// The tokens `authctl` keeps after register or login, in `$XDG_CONFIG_HOME/authctl/credentials`
/// (default `~/.config/authctl/credentials`; with a profile `credentials.d/PROFILE`), mode 0600,
/// as a small JSON object.
struct Credentials: Codable, Equatable {
    var server: String
    /// Who logged in (nil after a refresh with a given refresh token).
    var email: String?
    var userId: Int64?
    var token: String
    var expiresAt: Int64
    var refreshToken: String
    var refreshExpiresAt: Int64

    enum CodingKeys: String, CodingKey {
        case server, email, token
        case userId = "user_id"
        case expiresAt = "expires_at"
        case refreshToken = "refresh_token"
        case refreshExpiresAt = "refresh_expires_at"
    }

    /// The credentials file's path for this environment: `credentials` in the config folder, or
    /// `credentials.d/PROFILE` when a profile is selected (`--profile`, `AUTHCTL_PROFILE`, or
    /// `config use`), so each profile keeps its own session.
    static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        path(profile: ProfileStore.selectedName(environment: environment), environment: environment)
    }

    /// The credentials file of `profile` (nil, or a name that cannot be a profile's: the default file).
    static func path(profile: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let directory = ProfileStore.directory(environment: environment)
        guard let profile, (try? ProfileStore.checkName(profile)) != nil else { return directory + "/credentials" }
        return directory + "/credentials.d/" + profile
    }

    /// The kept credentials, or nil when there are none.
    static func load(from path: String) throws -> Credentials? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONDecoder().decode(Credentials.self, from: data) } catch {
            throw CLIError.usage("the credentials file \(path) is damaged; log in again")
        }
    }

    /// Writes atomically: a new file created with mode 0600, then renamed over the old one.
    func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try PrivateFile.write(try encoder.encode(self), to: path)
    }

    /// Forgets the kept credentials (no error when there are none).
    static func remove(at path: String) {
        unlink(path)
    }
}
