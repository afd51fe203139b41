import ArgumentParser
import AuthAPI
import AuthClient
import Foundation
import RPCCore
import RPCTransport

/// What `authctl bench` calls, with every request encoded before the run so a call costs the
/// generator only the transport's work (no per-call message building).
struct BenchScenario: Sendable {
    enum Kind: String, CaseIterable, Sendable, ExpressibleByArgument {
        case validate, login, status, health, register
        case serviceToken = "service-token"
    }

    let kind: Kind
    let method: MethodDescriptor
    /// Encoded requests, used round robin.
    let requests: [[UInt8]]
    /// Per-request call options (a bearer token for `status`), parallel to `requests`, or one for all.
    let options: [CallOptions]
    /// For `register`: a fresh address per call, made from this prefix and a counter.
    let registerPrefix: String

    /// The outcome of one call: nil for success, else the status name and message.
    typealias Outcome = (code: String, message: String)?

    func request(_ i: Int) -> (bytes: [UInt8], options: CallOptions) {
        if kind == .register {
            let bytes = RegisterRequest(email: "\(registerPrefix)-r\(i)@example.com", password: BenchUsers.password).serializedBytes()
            return (bytes, options[0])
        }
        return (requests[i % requests.count], options.count == 1 ? options[0] : options[i % options.count])
    }

    /// Interprets a reply (only `validate` can fail inside an OK reply: a refused token).
    func outcome(_ reply: [UInt8]) -> Outcome {
        guard kind == .validate else { return nil }
        guard let decoded = try? ValidateReply(serializedBytes: reply) else { return ("INTERNAL", "undecodable reply") }
        return decoded.valid ? nil : (decoded.refusal == .forbidden ? "PERMISSION_DENIED" : "UNAUTHENTICATED", decoded.message)
    }

    static func outcome(_ error: any Error) -> Outcome {
        if let error = error as? RPCError { return (error.code.name, error.message) }
        return ("UNKNOWN", "\(error)")
    }

    /// Builds the scenario; `users` supplies tokens or credentials where the scenario needs them,
    /// `requiredScopes` go into every Validate request, `service` is service-token's client id and secret.
    static func make(_ kind: Kind, users: BenchUsers?, timeout: Duration, requiredScopes: [String] = [],
                     service: (clientID: String, secret: String)? = nil) -> BenchScenario {
        let plain = CallOptions(timeout: timeout)
        switch kind {
        case .validate:
            return BenchScenario(kind: kind, method: Auth.Method.validate,
                                 requests: users!.tokens.map { ValidateRequest(token: $0, requiredScopes: requiredScopes).serializedBytes() },
                                 options: [plain], registerPrefix: "")
        case .serviceToken:
            let request = ServiceTokenRequest(clientId: service!.clientID, clientSecret: service!.secret)
            return BenchScenario(kind: kind, method: Auth.Method.serviceToken, requests: [request.serializedBytes()],
                                 options: [plain], registerPrefix: "")
        case .status:
            return BenchScenario(kind: kind, method: Auth.Method.status, requests: [StatusRequest().serializedBytes()],
                                 options: users!.tokens.map { .bearer($0, timeout: timeout) }, registerPrefix: "")
        case .login:
            return BenchScenario(kind: kind, method: Auth.Method.login,
                                 requests: users!.emails.map { LoginRequest(email: $0, password: BenchUsers.password).serializedBytes() },
                                 options: [plain], registerPrefix: "")
        case .health:
            return BenchScenario(kind: kind, method: Auth.Method.health, requests: [HealthRequest().serializedBytes()],
                                 options: [plain], registerPrefix: "")
        case .register:
            return BenchScenario(kind: kind, method: Auth.Method.register, requests: [], options: [plain],
                                 registerPrefix: "bench-\(BenchUsers.randomTag())")
        }
    }
}

/// Test users for a bench run: `bench-<random>-<i>@example.com` with a fixed strong password,
/// registered (or logged in when they exist), and their access tokens.
struct BenchUsers: Sendable {
    static let password = "bench-Pa55word-7c1e9f2b-not-secret"
    var emails: [String]
    var tokens: [String]

    static func randomTag() -> String {
        String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF, radix: 36)
    }

    /// Registers `count` users (logging in those that exist), `concurrency` calls at a time spread over
    /// the clients. Throws the first error that is neither OK nor ALREADY_EXISTS.
    static func create(count: Int, clients: [Auth.Client], concurrency: Int, timeout: Duration,
                       progress: (@Sendable (Int) -> Void)?) throws -> BenchUsers {
        let tag = randomTag()
        let emails = (0..<count).map { "bench-\(tag)-\($0)@example.com" }
        let results = ResultSlots(count: count)
        let next = AtomicCounter()
        let workers = max(1, min(concurrency, count))
        let group = DispatchGroup()
        for w in 0..<workers {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let client = clients[w % clients.count]
                while results.firstError == nil {
                    let i = next.next()
                    guard i < count else { return }
                    let options = CallOptions(timeout: timeout)
                    do {
                        let reply: TokenReply
                        do {
                            reply = try client.register(RegisterRequest(email: emails[i], password: password), options: options)
                        } catch let error as RPCError where error.code == .alreadyExists {
                            reply = try client.login(LoginRequest(email: emails[i], password: password), options: options)
                        }
                        results.set(i, reply.token)
                        progress?(i)
                    } catch {
                        results.fail(CLIError(error))
                    }
                }
            }
        }
        group.wait()
        if let error = results.firstError { throw error }
        return BenchUsers(emails: emails, tokens: results.values)
    }

    /// Tokens from a file, one a line, as `TOKEN` or `EMAIL TOKEN` (what `--save-tokens` writes;
    /// the emails, all with `password`, serve the login scenario). Blank lines and `#` comments are skipped.
    static func load(tokenFile: String) throws -> BenchUsers {
        guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
            throw CLIError.usage("--token-file: cannot read \(tokenFile)")
        }
        var users = BenchUsers(emails: [], tokens: [])
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let token = fields.last, !token.hasPrefix("#") else { continue }
            users.tokens.append(String(token))
            if fields.count == 2 { users.emails.append(String(fields[0])) }
        }
        guard !users.tokens.isEmpty else { throw CLIError.usage("--token-file: no tokens in \(tokenFile)") }
        return users
    }

    /// The `--save-tokens` file's text: `EMAIL TOKEN` lines (just `TOKEN` when emails are unknown).
    var fileText: String {
        let lines = emails.count == tokens.count ? zip(emails, tokens).map { "\($0) \($1)" } : tokens
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Slots written by many threads, each slot by one.
private final class ResultSlots: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var slots: [String]
    private var error: CLIError?

    init(count: Int) { slots = Array(repeating: "", count: count) }
    func set(_ i: Int, _ value: String) { lock.withLock { slots[i] = value } }
    func fail(_ e: CLIError) { lock.withLock { if error == nil { error = e } } }
    var firstError: CLIError? { lock.withLock { error } }
    var values: [String] { lock.withLock { slots } }
}
