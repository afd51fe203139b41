import AuthCore
import RPCCore

/// The one place where domain errors become wire statuses.
enum AuthErrorMapping {
    /// The status and caller-facing message for an `AuthError`. Internal details and store causes
    /// stay in `cause` (for the server log), never in the message.
    static func rpcError(_ error: AuthError) -> RPCError {
        switch error {
        case .invalidEmail, .weakPassword:
            return RPCError(.invalidArgument, error.message)
        case .emailTaken:
            return RPCError(.alreadyExists, error.message)
        case .invalidCredentials, .tokenExpired, .tokenInvalid, .tokenRevoked, .missingToken,
             .refreshInvalid, .refreshReused, .resetCodeInvalid, .invalidClientCredentials:
            return RPCError(.unauthenticated, error.message)
        case .throttled, .registrationThrottled, .resetThrottled:
            return RPCError(.resourceExhausted, error.message)
        case .notAdmin, .accountDisabled, .registrationClosed, .wrongPassword, .scopeNotGranted, .insufficientScope:
            return RPCError(.permissionDenied, error.message)
        case .invalidRequest:
            return RPCError(.invalidArgument, error.message)
        case .serviceExists:
            return RPCError(.alreadyExists, error.message)
        case .userNotFound, .sessionNotFound, .serviceNotFound:
            return RPCError(.notFound, error.message)
        case .storeUnavailable(let cause):
            return RPCError(.unavailable, error.message, cause: cause)
        case .storeConflict(let cause):
            return RPCError(.aborted, error.message, cause: cause)
        case .revocationsStale:
            return RPCError(.unavailable, error.message)
        case .internal:
            return RPCError(.internalError, error.message, cause: error)
        }
    }
}
