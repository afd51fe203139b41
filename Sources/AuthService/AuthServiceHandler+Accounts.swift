import AuthAPI
import AuthCore
import Foundation
import RPCCore

/// Accounts and sessions: the caller's own account, and administration (an admin's token).
extension AuthServiceHandler {
    public func changePassword(_ request: ChangePasswordRequest, context: ServerContext) throws -> TokenReply {
        try perform("ChangePassword", context) {
            TokenReply(try core.changePassword(token: try callerToken(context), current: request.currentPassword,
                                               new: request.newPassword, clientAddress: context.peerHost))
        }
    }

    public func listSessions(_ request: ListSessionsRequest, context: ServerContext) throws -> ListSessionsReply {
        try perform("ListSessions", context) {
            ListSessionsReply(sessions: try core.sessions(token: try callerToken(context)).map { info in
                Session(sid: info.session.id.description, createdAt: seconds(info.session.createdAt),
                        lastRefreshedAt: seconds(info.session.lastRefreshedAt), clientAddress: info.session.clientAddress ?? "",
                        current: info.isCurrent)
            })
        }
    }

    public func revokeSession(_ request: RevokeSessionRequest, context: ServerContext) throws -> RevokeSessionReply {
        try perform("RevokeSession", context) {
            try core.revokeSession(token: try callerToken(context), sid: request.sid, clientAddress: context.peerHost)
            return RevokeSessionReply()
        }
    }

    public func logoutAll(_ request: LogoutAllRequest, context: ServerContext) throws -> LogoutAllReply {
        try perform("LogoutAll", context) {
            LogoutAllReply(sessions: Int32(clamping: try core.logoutAll(token: try callerToken(context), clientAddress: context.peerHost)))
        }
    }

    public func deleteAccount(_ request: DeleteAccountRequest, context: ServerContext) throws -> DeleteAccountReply {
        try perform("DeleteAccount", context) {
            try core.deleteAccount(token: try callerToken(context), password: request.password, clientAddress: context.peerHost)
            return DeleteAccountReply()
        }
    }

    public func listUsers(_ request: ListUsersRequest, context: ServerContext) throws -> ListUsersReply {
        try perform("ListUsers", context) {
            let page = try core.users(emailPrefix: request.emailPrefix, pageToken: request.pageToken, pageSize: Int(request.pageSize),
                                      authority: .token(try callerToken(context)))
            return ListUsersReply(users: page.items.map { u in
                User(userId: u.userID, email: u.email, admin: u.isAdmin, disabled: u.isDisabled, registeredAt: seconds(u.registeredAt),
                     lastLoginAt: u.lastLoginAt.map(seconds) ?? 0)
            }, nextPageToken: page.nextPageToken ?? "")
        }
    }

    public func disableUser(_ request: DisableUserRequest, context: ServerContext) throws -> DisableUserReply {
        try perform("DisableUser", context) {
            try core.setDisabled(email: request.email, disabled: true, authority: .token(try callerToken(context)),
                                 clientAddress: context.peerHost)
            return DisableUserReply()
        }
    }

    public func enableUser(_ request: EnableUserRequest, context: ServerContext) throws -> EnableUserReply {
        try perform("EnableUser", context) {
            try core.setDisabled(email: request.email, disabled: false, authority: .token(try callerToken(context)),
                                 clientAddress: context.peerHost)
            return EnableUserReply()
        }
    }

    public func deleteUser(_ request: DeleteUserRequest, context: ServerContext) throws -> DeleteUserReply {
        try perform("DeleteUser", context) {
            try core.deleteUser(email: request.email, authority: .token(try callerToken(context)), clientAddress: context.peerHost)
            return DeleteUserReply()
        }
    }

    public func issueResetCode(_ request: IssueResetCodeRequest, context: ServerContext) throws -> IssueResetCodeReply {
        try perform("IssueResetCode", context) {
            let code = try core.issueResetCode(email: request.email, authority: .token(try callerToken(context)),
                                               clientAddress: context.peerHost)
            return IssueResetCodeReply(code: code.code, expiresAt: seconds(code.expiresAt))
        }
    }

    public func resetPassword(_ request: ResetPasswordRequest, context: ServerContext) throws -> ResetPasswordReply {
        try perform("ResetPassword", context) {
            try core.resetPassword(email: request.email, code: request.code, newPassword: request.newPassword,
                                   clientAddress: context.peerHost)
            return ResetPasswordReply()
        }
    }

    public func auditEvents(_ request: AuditEventsRequest, context: ServerContext) throws -> AuditEventsReply {
        try perform("AuditEvents", context) {
            let page = try core.auditEvents(email: request.email, userID: request.userId, kind: request.kind,
                                            since: request.since > 0 ? Date(timeIntervalSince1970: TimeInterval(request.since)) : nil,
                                            pageToken: request.pageToken, pageSize: Int(request.pageSize),
                                            authority: .token(try callerToken(context)))
            return AuditEventsReply(events: page.items.map { e in
                AuditEntry(atMs: Int64((e.at.timeIntervalSince1970 * 1000).rounded(.down)), kind: e.kind.rawValue, userId: e.userID ?? 0,
                           email: e.email ?? "", clientAddress: e.clientAddress ?? "", detail: e.detail ?? "", count: Int64(e.count))
            }, nextPageToken: page.nextPageToken ?? "")
        }
    }

    public func createUser(_ request: CreateUserRequest, context: ServerContext) throws -> CreateUserReply {
        try perform("CreateUser", context) {
            CreateUserReply(userId: try core.createUser(email: request.email, password: request.password,
                                                        authority: .token(try callerToken(context)), clientAddress: context.peerHost))
        }
    }
}

/// Whole seconds since 1970.
private func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }
