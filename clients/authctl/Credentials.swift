import Foundation

/// The tokens `authctl` keeps after register or login, in `$XDG_CONFIG_HOME/authctl/credentials`
/// (default `~/.config/authctl/credentials`), mode 0600, as a small JSON object.
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

    /// The credentials file's path for this environment.
    static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base: String
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            base = xdg
        } else {
            base = (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        }
        return base + "/authctl/credentials"
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
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(self)
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError.local("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == data.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CLIError.local("cannot write \(path)")
        }
    }

    /// Forgets the kept credentials (no error when there are none).
    static func remove(at path: String) {
        unlink(path)
    }
}
