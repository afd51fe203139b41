import Foundation

/// What register, login and refresh hand back.
public struct IssuedTokens: Sendable, Equatable {
    public var userID: Int64
    /// The JWT (HS256) to send as a bearer token.
    public var accessToken: String
    public var accessTokenExpiresAt: Date
    /// Opaque (256 random bits, base64url); single use: refresh returns a new one.
    public var refreshToken: String
    public var refreshTokenExpiresAt: Date
    public var tokenType: String { "Bearer" }

    public init(userID: Int64, accessToken: String, accessTokenExpiresAt: Date, refreshToken: String, refreshTokenExpiresAt: Date) {
        self.userID = userID
        self.accessToken = accessToken
        self.accessTokenExpiresAt = accessTokenExpiresAt
        self.refreshToken = refreshToken
        self.refreshTokenExpiresAt = refreshTokenExpiresAt
    }
}

/// Who a token belongs to (the Status call).
public struct UserInfo: Sendable, Equatable {
    public var userID: Int64
    public var email: String
    public var isAdmin: Bool
    public var registeredAt: Date

    public init(userID: Int64, email: String, isAdmin: Bool, registeredAt: Date) {
        self.userID = userID
        self.email = email
        self.isAdmin = isAdmin
        self.registeredAt = registeredAt
    }
}

/// The outcome of `validate(token:)`, the hot path. Only `.valid` carries claims.
public enum ValidationResult: Sendable, Equatable {
    case valid(AccessClaims)
    /// `Signature expired. Please log in again.`
    case expired
    /// `Invalid token. Please log in again.` (bad signature, alg, kid, encoding, claims, not yet valid)
    case invalid
    /// `Token blacklisted. Please log in again.` (logged out, or revoked with all of its user's tokens)
    case revoked
    /// No token at all: `Provide a valid auth token.`
    case missing
    /// The token verified, but the revocations in memory are older than the staleness bound
    /// (the feed could not be read): this instance cannot tell whether it was revoked elsewhere,
    /// so it answers nothing (UNAVAILABLE; the caller fails closed or asks another instance).
    case unavailable
    /// `Account disabled. Contact an administrator.` (issued before its user was disabled)
    case disabled

    /// The error for anything but `.valid`.
    public var error: AuthError? {
        switch self {
        case .valid: nil
        case .expired: .tokenExpired
        case .invalid: .tokenInvalid
        case .revoked: .tokenRevoked
        case .missing: .missingToken
        case .unavailable: .revocationsStale
        case .disabled: .accountDisabled
        }
    }

    /// The claims, or the error.
    public func claims() throws(AuthError) -> AccessClaims {
        switch self {
        case .valid(let c): return c
        default: throw error!
        }
    }
}
