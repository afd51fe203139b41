import Foundation

/// Every way an auth operation can fail, as a small closed set. The service maps these to wire
/// status codes in one place. `message` is safe to show a caller: it never carries a secret.
public enum AuthError: Error, Sendable, CustomStringConvertible {
    /// The email is not a syntactically valid address (or is too long).
    case invalidEmail
    /// The password breaks the policy (length, or among the commonly used ones).
    case weakPassword(PasswordRejection)
    /// Registration with an email that already has an account.
    case emailTaken
    /// Unknown email or wrong password: deliberately the same error.
    case invalidCredentials
    /// Too many failed logins; try again after `retryAfter` seconds.
    case throttled(retryAfter: TimeInterval)
    /// Too many registrations (from this client address, or from all); try again after `retryAfter` seconds.
    case registrationThrottled(retryAfter: TimeInterval)
    case tokenExpired
    case tokenInvalid
    case tokenRevoked
    /// No token was given where one is required.
    case missingToken
    /// The token is valid but its user is not an administrator.
    case notAdmin
    /// The user named by an operator command does not exist.
    case userNotFound
    /// The refresh token is unknown, malformed or expired.
    case refreshInvalid
    /// A refresh token was presented a second time; its whole family is now revoked.
    case refreshReused
    /// The store could not be reached in time (the service answers UNAVAILABLE).
    case storeUnavailable(StoreError)
    /// A write kept conflicting with concurrent ones (deadlock, Galera certification) after the
    /// store's retries; it was rolled back, so nothing was applied (the service answers ABORTED).
    case storeConflict(StoreError)
    /// The revocation feed was not read within the staleness bound: a token cannot be trusted
    /// (the service answers UNAVAILABLE, Validate included).
    case revocationsStale
    /// The user was disabled by an administrator.
    case accountDisabled
    /// Register while registration is closed.
    case registrationClosed
    /// A password check of a signed-in user (ChangePassword, DeleteAccount) failed.
    case wrongPassword
    /// A reset code that is wrong, used or expired (or a user without one).
    case resetCodeInvalid
    /// Too many wrong reset codes; try again after `retryAfter` seconds.
    case resetThrottled(retryAfter: TimeInterval)
    /// The session is not one of the caller's.
    case sessionNotFound
    /// A malformed request field; the message says which (it never quotes a secret).
    case invalidRequest(String)
    /// ServiceToken: unknown client id, wrong secret, or an unbound certificate (deliberately the same).
    case invalidClientCredentials
    /// ServiceToken asked for a scope its account lacks.
    case scopeNotGranted
    /// A valid token without a required scope or audience (Validate's FORBIDDEN refusal).
    case insufficientScope
    /// The service account named by an operator command does not exist.
    case serviceNotFound
    /// Creating a service account whose client id is taken.
    case serviceExists
    /// Anything unexpected; `detail` is for the server log, not for the caller.
    case `internal`(String)

    /// The case without its payload, for switching and comparing.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        case invalidEmail, weakPassword, emailTaken, invalidCredentials, throttled, registrationThrottled
        case tokenExpired, tokenInvalid, tokenRevoked, missingToken, notAdmin, userNotFound
        case refreshInvalid, refreshReused, storeUnavailable, storeConflict, revocationsStale, `internal`
        case accountDisabled, registrationClosed, wrongPassword, resetCodeInvalid, resetThrottled, sessionNotFound, invalidRequest
        case invalidClientCredentials, scopeNotGranted, insufficientScope, serviceNotFound, serviceExists
    }

    public var code: Code {
        switch self {
        case .invalidEmail: .invalidEmail
        case .weakPassword: .weakPassword
        case .emailTaken: .emailTaken
        case .invalidCredentials: .invalidCredentials
        case .throttled: .throttled
        case .registrationThrottled: .registrationThrottled
        case .tokenExpired: .tokenExpired
        case .tokenInvalid: .tokenInvalid
        case .tokenRevoked: .tokenRevoked
        case .missingToken: .missingToken
        case .notAdmin: .notAdmin
        case .userNotFound: .userNotFound
        case .refreshInvalid: .refreshInvalid
        case .refreshReused: .refreshReused
        case .storeUnavailable: .storeUnavailable
        case .storeConflict: .storeConflict
        case .revocationsStale: .revocationsStale
        case .internal: .internal
        case .accountDisabled: .accountDisabled
        case .registrationClosed: .registrationClosed
        case .wrongPassword: .wrongPassword
        case .resetCodeInvalid: .resetCodeInvalid
        case .resetThrottled: .resetThrottled
        case .sessionNotFound: .sessionNotFound
        case .invalidRequest: .invalidRequest
        case .invalidClientCredentials: .invalidClientCredentials
        case .scopeNotGranted: .scopeNotGranted
        case .insufficientScope: .insufficientScope
        case .serviceNotFound: .serviceNotFound
        case .serviceExists: .serviceExists
        }
    }

    /// The message for the caller (the seed tutorial's wording where it has one).
    public var message: String {
        switch self {
        case .invalidEmail: "Provide a valid email address."
        case .weakPassword(let reason): reason.message
        case .emailTaken: "User already exists. Please log in."
        case .invalidCredentials: "Invalid email or password."
        case .throttled(let after): "Too many failed attempts. Try again in \(Int(after.rounded(.up))) seconds."
        case .registrationThrottled(let after): "Too many registrations. Try again in \(Int(after.rounded(.up))) seconds."
        case .tokenExpired: "Signature expired. Please log in again."
        case .tokenInvalid: "Invalid token. Please log in again."
        case .tokenRevoked: "Token blacklisted. Please log in again."
        case .missingToken: "Provide a valid auth token."
        case .notAdmin: "Administrator rights required."
        case .userNotFound: "No such user."
        case .refreshInvalid: "Invalid refresh token. Please log in again."
        case .refreshReused: "Refresh token already used; the session is revoked. Please log in again."
        case .storeUnavailable(let cause) where cause.outcomeUnknown:
            "Service temporarily unavailable; the request may or may not have taken effect."
        case .storeUnavailable: "Service temporarily unavailable. Try again."
        case .storeConflict: "The request conflicted with concurrent ones and was not applied. Try again."
        case .revocationsStale: "Service temporarily unavailable (revocations not current). Try another instance."
        case .internal: "Internal error."
        case .accountDisabled: "Account disabled. Contact an administrator."
        case .registrationClosed: "Registration is closed."
        case .wrongPassword: "Wrong password."
        case .resetCodeInvalid: "Invalid or expired reset code."
        case .resetThrottled(let after): "Too many wrong reset codes. Try again in \(Int(after.rounded(.up))) seconds."
        case .sessionNotFound: "No such session."
        case .invalidRequest(let what): what
        case .invalidClientCredentials: "Invalid client credentials."
        case .scopeNotGranted: "Scope not granted to this service."
        case .insufficientScope: "Insufficient scope."
        case .serviceNotFound: "No such service account."
        case .serviceExists: "Service account already exists."
        }
    }

    public var description: String {
        switch self {
        case .storeUnavailable(let cause): "AuthError.storeUnavailable: \(cause)"
        case .storeConflict(let cause): "AuthError.storeConflict: \(cause)"
        case .internal(let detail): "AuthError.internal: \(detail)"
        default: "AuthError.\(code.rawValue): \(message)"
        }
    }
}

/// Why a password was refused.
public enum PasswordRejection: Sendable, Equatable {
    case tooShort(minimum: Int)
    case tooLong(maximum: Int)
    case common

    public var message: String {
        switch self {
        case .tooShort(let n): "Password must have at least \(n) characters."
        case .tooLong(let n): "Password must have at most \(n) characters."
        case .common: "Password is too common. Choose another."
        }
    }
}

/// An error raised by a store: the kind of failure (all the core decides on), a message saying
/// what the store was doing, and the underlying error (the database driver's, with its own code
/// and text) for the server log. Neither carries a parameter value, password or token hash.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The database could not be reached or did not answer in time.
        case unavailable
        /// A deadlock or certification conflict still present after retries.
        case conflict
        /// A row with the same unique key exists.
        case duplicate
        /// Anything else (a bug, a schema mismatch, a constraint the input broke).
        case failure
    }
    public var kind: Kind
    /// What failed, in the store's words.
    public var message: String
    /// The error behind this one (for a MariaDB store, its `MariaDBError`), when there is one.
    public var cause: (any Error)?

    /// Set on an `unavailable` error when a write was sent but its commit was never confirmed (the
    /// connection broke while committing): it may or may not have taken effect.
    public var outcomeUnknown: Bool

    public init(_ kind: Kind, _ message: String, cause: (any Error)? = nil, outcomeUnknown: Bool = false) {
        self.kind = kind
        self.message = message
        self.cause = cause
        self.outcomeUnknown = outcomeUnknown
    }

    public var description: String {
        "store \(kind.rawValue): \(message)" + (cause.map { " (\($0))" } ?? "")
    }
}
