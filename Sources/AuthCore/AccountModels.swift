import Foundation

/// A session as the store lists it: a refresh-token family with a current token.
public struct SessionRecord: Sendable, Equatable {
    /// The family, the `sid` of its access tokens.
    public var id: TokenID
    /// Its login.
    public var createdAt: Date
    /// When its current refresh token was issued (its login when never refreshed).
    public var lastRefreshedAt: Date
    /// The client address of its login, when known.
    public var clientAddress: String?
    public init(id: TokenID, createdAt: Date, lastRefreshedAt: Date, clientAddress: String?) {
        self.id = id
        self.createdAt = createdAt
        self.lastRefreshedAt = lastRefreshedAt
        self.clientAddress = clientAddress
    }
}

/// A session as the caller sees it (`AuthCore.sessions`).
public struct SessionInfo: Sendable, Equatable {
    public var session: SessionRecord
    /// Whether the caller's token belongs to it.
    public var isCurrent: Bool
}

/// Which audit events to read (`AuthStore.auditEvents(_:)`).
public struct AuditQuery: Sendable, Equatable {
    public var userID: Int64?
    public var kind: AuditEvent.Kind?
    /// At or after.
    public var since: Date?
    /// Ids below this only (the paging cursor); nil from the newest.
    public var before: Int64?
    public var limit: Int
    public init(userID: Int64? = nil, kind: AuditEvent.Kind? = nil, since: Date? = nil, before: Int64? = nil, limit: Int) {
        self.userID = userID
        self.kind = kind
        self.since = since
        self.before = before
        self.limit = limit
    }
}

/// One page of a listing, and the opaque token for the next (nil on the last page).
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextPageToken: String?
}

/// Page sizes and tokens for the listings: 50 by default, at most 500; a page token is the
/// base64url of the last key of the previous page, so it is opaque to callers but carries nothing
/// they could not list anyway.
public enum Paging {
    public static let defaultSize = 50
    public static let maximumSize = 500

    /// The page size for a request's `page_size` (0: the default); INVALID_ARGUMENT-worthy sizes throw.
    static func size(_ requested: Int) throws(AuthError) -> Int {
        if requested == 0 { return defaultSize }
        guard (1...maximumSize).contains(requested) else {
            throw AuthError.invalidRequest("page_size must be between 1 and \(maximumSize).")
        }
        return requested
    }

    static func token(_ key: String) -> String { Base64URL.encode(key) }

    /// The key in a page token; nil for the empty token (the first page).
    static func key(_ token: String) throws(AuthError) -> String? {
        if token.isEmpty { return nil }
        guard token.utf8.count <= 1400, let bytes = Base64URL.decode(token), let key = String(validating: bytes, as: UTF8.self) else {
            throw AuthError.invalidRequest("Invalid page token.")
        }
        return key
    }
}

/// A user as an administrator lists them.
public struct UserSummary: Sendable, Equatable {
    public var userID: Int64
    public var email: String
    public var isAdmin: Bool
    public var isDisabled: Bool
    public var registeredAt: Date
    public var lastLoginAt: Date?
    init(_ user: UserRecord) {
        userID = user.id
        email = user.email
        isAdmin = user.isAdmin
        isDisabled = user.isDisabled
        registeredAt = user.registeredAt
        lastLoginAt = user.lastLoginAt
    }
}

/// A reset code as `AuthCore.issueResetCode` hands it out: shown once, stored only hashed.
public struct ResetCode: Sendable, Equatable {
    public var code: String
    public var expiresAt: Date
}
