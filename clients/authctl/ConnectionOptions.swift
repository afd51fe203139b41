import ArgumentParser
import AuthAPI
import AuthClient
import Foundation
import RPCCore
import RPCTransport
import Support

/// The options every command takes: where the server is, how to trust it, how long to wait, and
/// the output format. Each setting comes from the first that has it: the flag, the environment
/// (`AUTHCTL_SERVER`, `AUTHCTL_CA`, `AUTHCTL_CERT`, `AUTHCTL_KEY`), the selected profile
/// (`--profile`, `AUTHCTL_PROFILE`, `authctl config use`). `GlobalArguments` lets them come
/// before the subcommand too.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Server address (default 127.0.0.1:7443); several as host:port,host:port spread the calls and move away from a failing server. [AUTHCTL_SERVER]", valueName: "host:port"))
    var server: String?

    @Option(help: ArgumentHelp("PEM CA certificates the server's certificate must chain to (default: the system's). [AUTHCTL_CA]", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("PEM client certificate, for servers that ask for one (mTLS). [AUTHCTL_CERT]", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("PEM private key of --cert. [AUTHCTL_KEY]", valueName: "file"))
    var key: String?

    @Option(help: ArgumentHelp("Seconds to wait for the connection and for each call.", valueName: "seconds"))
    var timeout: Double = 10

    @Flag(help: "Print exactly one JSON object on standard output (errors included).")
    var json = false

    @Option(help: ArgumentHelp("Use this profile's server, CA and client certificate (authctl config set), and its own kept credentials; flags and environment variables still win. [AUTHCTL_PROFILE]", valueName: "name"))
    var profile: String?

    /// The server the kept credentials came from, used when neither --server nor AUTHCTL_SERVER is set.
    var keptServer: String?

    var printer: Printer { Printer(json: json) }

    enum CodingKeys: CodingKey { case server, ca, cert, key, timeout, json, profile }

    func validate() throws {
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be within (0, 3600] seconds") }
    }

    /// The process environment, with `--profile` as `AUTHCTL_PROFILE`.
    private var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if let profile, !profile.isEmpty { environment[ProfileStore.variable] = profile }
        return environment
    }

    /// The selected profile's settings (none when no profile is selected or it cannot be read;
    /// `clientConfigurations()` reports those as usage errors).
    private var selectedProfile: Profile? { (try? ProfileStore.selected(environment: environment))??.profile }

    /// Flag, then environment variable, then the selected profile.
    private func setting(_ flag: String?, _ variable: String, _ fromProfile: KeyPath<Profile, String?>) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let value = environment[variable], !value.isEmpty { return value }
        if let value = selectedProfile?[keyPath: fromProfile], !value.isEmpty { return value }
        return nil
    }

    /// The server address as given (flag, environment, profile, the kept credentials' or default).
    var serverAddress: String { setting(server, "AUTHCTL_SERVER", \.server) ?? keptServer ?? "127.0.0.1:7443" }

    /// These options, talking to the kept credentials' server unless another was asked for.
    func following(_ credentials: Credentials?) -> ConnectionOptions {
        var copy = self
        copy.keptServer = credentials?.server
        return copy
    }

    /// Splits `host:port` (or `[v6]:port`); an empty host is 127.0.0.1.
    static func parseAddress(_ text: String) throws(CLIError) -> (host: String, port: Int) {
        do {
            let address = try HostPort.parse(text, defaultHost: "127.0.0.1")
            return (address.host, address.port)
        } catch {
            throw .usage("--server: \(error.description)")
        }
    }

    /// The transport configurations these options describe: one per address of `--server`
    /// (`host:port`, or several as `host:port,host:port`).
    func clientConfigurations() throws(CLIError) -> [ClientConfiguration] {
        _ = try ProfileStore.selected(environment: environment)  // an unknown or unreadable profile is a usage error
        let ca = setting(self.ca, "AUTHCTL_CA", \.ca)
        let addresses = serverAddress.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard !addresses.isEmpty, !addresses.contains(where: \.isEmpty) else {
            throw .usage("--server: \(serverAddress.debugDescription) is not HOST:PORT[,HOST:PORT…]")
        }
        let cert = setting(self.cert, "AUTHCTL_CERT", \.cert), key = setting(self.key, "AUTHCTL_KEY", \.key)
        guard (cert == nil) == (key == nil) else { throw .usage("--cert and --key go together") }
        for (name, file) in [("--ca", ca), ("--cert", cert), ("--key", key)] {
            if let file, !FileManager.default.isReadableFile(atPath: file) {
                throw .usage("\(name): cannot read \(file)")
            }
        }
        let tls = TLSConfiguration.client(trustRootsFile: ca, certificateChainFile: cert,
                                          privateKeyFile: key)
        var configurations: [ClientConfiguration] = []
        for address in addresses {
            let (host, port) = try Self.parseAddress(address)
            configurations.append(ClientConfiguration(host: host, port: port, tls: tls, connectTimeout: callTimeout,
                                                      defaultTimeout: callTimeout))
        }
        return configurations
    }

    var callTimeout: Duration { .milliseconds(Int64(timeout * 1000)) }

    /// A new transport (it connects on the first call): one connection, or with several
    /// addresses a `BalancedClient` that spreads calls and retries only what is safe.
    /// It is closed, waiting for its I/O threads, before authctl exits (`OpenTransports`).
    func transport() throws(CLIError) -> any ClientTransport {
        let configurations = try clientConfigurations()
        do {
            if configurations.count == 1 {
                let connection = try ClientConnection(configuration: configurations[0])
                OpenTransports.add { connection.close(waitingUpTo: $0) }
                return connection
            }
            let balanced = try BalancedClient(configurations: configurations)
            OpenTransports.add { balanced.close(waitingUpTo: $0) }
            return balanced
        } catch {
            throw .usage("TLS settings: \(error)")
        }
    }

    /// A generated client on a new transport.
    func client() throws(CLIError) -> Auth.Client { Auth.Client(transport: try transport()) }

    /// Call options carrying `token` as the bearer.
    func bearer(_ token: String) -> CallOptions { .bearer(token, timeout: callTimeout) }
    var plain: CallOptions { CallOptions(timeout: callTimeout) }
}

/// The transports authctl opened, closed before it exits: a connection's I/O thread may still be
/// finishing its last TLS calls after the reply reached the command, and exit-time clean-up
/// (OpenSSL's atexit handler among it) racing that thread crashed authctl now and then.
enum OpenTransports {
    private static let closers = Locked<[@Sendable (Duration) -> Bool]>([])

    static func add(_ close: @escaping @Sendable (Duration) -> Bool) {
        closers.withLock { $0.append(close) }
    }

    /// Closes every transport opened so far, waiting up to 2 s in all for their I/O threads.
    static func closeAll() {
        let all = closers.withLock { list -> [@Sendable (Duration) -> Bool] in
            defer { list = [] }
            return list
        }
        let deadline = ContinuousClock.now + .seconds(2)
        for close in all { _ = close(max(.zero, deadline - .now)) }
    }
}

extension CLIError {
    /// Maps a failed call: a transport failure (no connection, TLS) to `.connection`, a status the
    /// server sent to `.refused`.
    init(_ error: any Error) {
        switch error {
        case let error as CLIError:
            self = error
        case let error as RPCError:
            if error.isConnectionFailure {
                self = .connection(error.message)
            } else {
                self = .refused(code: error.code.name, message: error.message)
            }
        default:
            self = .refused(code: StatusCode.internalError.name, message: "unreadable reply: \(error)")
        }
    }
}

/// Runs one call, mapping any failure to a `CLIError`.
func perform<T>(_ body: () throws -> T) throws(CLIError) -> T {
    do { return try body() } catch { throw CLIError(error) }
}
