import AuthAPI
import AuthCore
import Foundation
import Logging
import RPCCore

/// Serves the `Auth` service on an `AuthCore`: decodes nothing itself (the generated method table
/// does), takes tokens from the `authorization` metadata where the schema says so, and maps
/// domain errors to statuses in `AuthErrorMapping`.
///
/// ```swift
/// let server = try RPCServer(configuration: config, services: [AuthServiceHandler.service(core: core, logger: logger)], logger: logger)
/// ```
public struct AuthServiceHandler: Auth.Handler {
    let core: AuthCore
    let logger: Logger
    let now: @Sendable () -> Date

    public init(core: AuthCore, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.core = core
        self.logger = logger
        self.now = now
    }

    /// The method table to serve: `Validate` and `Health` run inline on the I/O thread (pure CPU
    /// and memory: Validate never touches the database, Health reads the state the core's probe
    /// keeps); everything else runs on the worker pool. Validate reads the token straight from
    /// the request bytes (see `ValidateFastPath`); any request it does not recognise goes
    /// through the generated decoder unchanged.
    ///
    /// `validateCallers`: `.authenticated` makes Validate check its caller first (`checkValidateCaller`).
    public static func service(core: AuthCore, logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
                               validateCallers: ValidateCallers = .any) -> AuthServiceMethods {
        let handler = AuthServiceHandler(core: core, logger: logger, now: now)
        let generated = Auth.service(handler, inline: [Auth.Method.validate, Auth.Method.health, Auth.Method.keys])
        let keysReplies = KeysReplyCache()
        return AuthServiceMethods(methods: generated.methods.map { method in
            if method.descriptor == Auth.Method.keys {
                // The usual (empty) request gets the pre-encoded reply of the current key set.
                return ServerMethod(descriptor: method.descriptor, kind: .inline) { bytes, context in
                    if bytes.isEmpty { return keysReplies.reply(for: core.publishedKeys) }
                    return try method.handler(bytes, context)
                }
            }
            guard method.descriptor == Auth.Method.validate else { return method }
            let checkCaller = validateCallers == .authenticated
            return ServerMethod(descriptor: method.descriptor, kind: .inline) { bytes, context in
                if checkCaller { try handler.checkValidateCaller(context) }
                if let reply = try ValidateFastPath.reply(to: bytes, handler: handler) { return reply }
                return try method.handler(bytes, context)
            }
        })
    }

    public func register(_ request: RegisterRequest, context: ServerContext) throws -> TokenReply {
        try perform("Register", context) {
            let tokens = try core.register(email: request.email, password: request.password, clientAddress: context.peerHost)
            context.note?.subject = "user:\(tokens.userID)"
            return TokenReply(tokens)
        }
    }

    public func login(_ request: LoginRequest, context: ServerContext) throws -> TokenReply {
        try perform("Login", context) {
            let tokens = try core.login(email: request.email, password: request.password, clientAddress: context.peerHost)
            context.note?.subject = "user:\(tokens.userID)"
            return TokenReply(tokens)
        }
    }

    public func status(_ request: StatusRequest, context: ServerContext) throws -> StatusReply {
        try perform("Status", context) {
            let user = try core.status(token: try callerToken(context))
            context.note?.subject = "user:\(user.userID)"
            return StatusReply(userId: user.userID, email: user.email, admin: user.isAdmin,
                               registeredOn: Int64(user.registeredAt.timeIntervalSince1970))
        }
    }

    public func logout(_ request: LogoutRequest, context: ServerContext) throws -> LogoutReply {
        try perform("Logout", context) {
            try core.logout(token: try callerToken(context), clientAddress: context.peerHost)
            return LogoutReply(message: "Successfully logged out.")
        }
    }

    /// The published keys (no database: the key set in memory).
    public func keys(_ request: KeysRequest, context: ServerContext) throws -> KeysReply {
        let published = core.publishedKeys
        return KeysReply(jwksJson: published.jwks, maxAgeSeconds: published.maxAgeSeconds)
    }

    /// The hot path: no database, no logging on refusal (a refusal is a normal answer here).
    public func validate(_ request: ValidateRequest, context: ServerContext) throws -> ValidateReply {
        let result = core.validate(token: request.token)
        guard case .valid(let claims) = result else { return try reply(result) }
        return try reply(result, permitted: permits(claims, requiredScopes: request.requiredScopes, audience: request.audience))
    }

    /// The reply for a validation result. A token that verified while the revocations in memory
    /// are stale gets no verdict: the call fails UNAVAILABLE (the caller fails closed, or asks
    /// another instance), never OK with `valid`. A valid token that does not meet the request's
    /// conditions (`permitted` false: a required scope or the audience missing) is refused FORBIDDEN.
    func reply(_ result: ValidationResult, permitted: Bool = true) throws(RPCError) -> ValidateReply {
        switch result {
        case .valid(let claims):
            guard permitted else { return ValidateReply(refusal: .forbidden, message: AuthError.insufficientScope.message) }
            let left = claims.expiresAt - Int64(now().timeIntervalSince1970)
            return ValidateReply(valid: true, userId: claims.isService ? 0 : claims.userID, admin: claims.isAdmin,
                                 expiresAt: claims.expiresAt, expiresIn: max(0, left), subject: claims.subject,
                                 kind: claims.isService ? .service : .user, scopes: claims.scopes, roles: claims.roles)
        case .expired:
            return ValidateReply(refusal: .expired, message: AuthError.tokenExpired.message)
        case .invalid:
            return ValidateReply(refusal: .invalid, message: AuthError.tokenInvalid.message)
        case .revoked:
            return ValidateReply(refusal: .revoked, message: AuthError.tokenRevoked.message)
        case .missing:
            return ValidateReply(refusal: .missing, message: AuthError.missingToken.message)
        case .disabled:
            return ValidateReply(refusal: .disabled, message: AuthError.accountDisabled.message)
        case .unavailable:
            throw AuthErrorMapping.rpcError(.revocationsStale)
        }
    }

    public func refresh(_ request: RefreshRequest, context: ServerContext) throws -> TokenReply {
        try perform("Refresh", context) {
            TokenReply(try core.refresh(refreshToken: request.refreshToken, clientAddress: context.peerHost))
        }
    }

    public func revokeAll(_ request: RevokeAllRequest, context: ServerContext) throws -> RevokeAllReply {
        try perform("RevokeAll", context) {
            // The core revokes tokens issued at or before the whole second of its call, which is no
            // earlier than `started`: so every token issued before the second after `started` is refused.
            let started = Int64(now().timeIntervalSince1970.rounded(.down))
            try core.revokeAll(userID: request.userId, by: try callerToken(context), clientAddress: context.peerHost)
            return RevokeAllReply(revokedBefore: started + 1)
        }
    }

    /// gRPC health-check semantics: the whole server ("") or `auth.v1.Auth` is SERVING while the
    /// database answers and NOT_SERVING otherwise; any other service name fails with NOT_FOUND,
    /// as gRPC's `Health/Check` does. Runs inline: `AuthCore.health()` reads the state its
    /// background probe keeps (at most `healthStaleness`, 1 s, old) and never waits on the
    /// database; the core logs the transitions, not every call.
    public func health(_ request: HealthRequest, context: ServerContext) throws -> HealthReply {
        guard request.service.isEmpty || request.service == Auth.name else {
            throw RPCError(.notFound, "Unknown service.")
        }
        return HealthReply(status: core.health() ? .serving : .notServing)
    }

    // MARK: -

    /// The caller's bearer token from `authorization`, or `missingToken`.
    func callerToken(_ context: ServerContext) throws(AuthError) -> String {
        guard let token = context.metadata.bearerToken, !token.isEmpty else { throw AuthError.missingToken }
        return token
    }

    /// Runs `body`, turning an `AuthError` into its status and logging every failure with its
    /// code (never a token or password: only the method, the peer and the status).
    func perform<T>(_ method: String, _ context: ServerContext, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as AuthError {
            let rpc = AuthErrorMapping.rpcError(error)
            var metadata: Logger.Metadata = ["method": "\(method)", "peer": "\(context.peer)", "code": "\(rpc.code.name)"]
            if let traceparent = context.metadata.traceparent { metadata["traceparent"] = "\(traceparent)" }
            switch error {
            case .storeUnavailable, .storeConflict, .internal:
                metadata["cause"] = "\(error)"
                logger.error("call failed", metadata: metadata)
            default:
                logger.info("call refused", metadata: metadata)
            }
            throw rpc
        }
    }
}

extension TokenReply {
    /// The reply for freshly issued tokens.
    init(_ tokens: IssuedTokens) {
        self.init(token: tokens.accessToken,
                  expiresAt: Int64(tokens.accessTokenExpiresAt.timeIntervalSince1970),
                  refreshToken: tokens.refreshToken,
                  refreshExpiresAt: Int64(tokens.refreshTokenExpiresAt.timeIntervalSince1970),
                  userId: tokens.userID)
    }
}
