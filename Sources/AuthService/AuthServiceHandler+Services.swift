import AuthAPI
import AuthCore
import Foundation
import RPCCore

/// Who may call Validate (`--validate-callers`).
public enum ValidateCallers: String, Sendable, CaseIterable {
    /// Anyone who reaches the port (the default).
    case any
    /// A caller with a service token in `authorization`, or with a client certificate bound to
    /// an enabled service account; anyone else gets UNAUTHENTICATED.
    case authenticated
}

/// Service identities: client credentials, and what Validate answers about scopes.
extension AuthServiceHandler {
    public func serviceToken(_ request: ServiceTokenRequest, context: ServerContext) throws -> TokenReply {
        try perform("ServiceToken", context) {
            guard request.scopes.count <= ServiceIdentity.maximumNames else { throw AuthError.scopeNotGranted }
            let certificate = CertificateIdentity(subject: context.peerCertificateSubject, uriSAN: context.peerCertificateURISAN)
            let issued = try core.serviceToken(clientID: request.clientId, secret: request.clientSecret, scopes: request.scopes,
                                               certificate: certificate.isEmpty ? nil : certificate, clientAddress: context.peerHost)
            context.note?.subject = ServiceIdentity.subjectPrefix + issued.clientID
            return TokenReply(token: issued.accessToken, expiresAt: Int64(issued.expiresAt.timeIntervalSince1970), scopes: issued.scopes)
        }
    }

    /// Whether valid claims meet a Validate request's conditions: every required scope in the
    /// token's `scope`, and the audience (when given) in its `aud`. A token verifies only when its
    /// `aud` names the configured `--audience` (and then is one this server issued, with exactly
    /// that `aud`), so the audience asked for must be the configured one.
    func permits(_ claims: AccessClaims, requiredScopes: [String], audience: String) -> Bool {
        requiredScopes.allSatisfy(claims.scopes.contains) && (audience.isEmpty || audience == core.configuration.audience)
    }

    /// `--validate-callers authenticated`: the caller must present a valid service token, or a
    /// client certificate bound to an enabled service account (from memory: no database).
    func checkValidateCaller(_ context: ServerContext) throws(RPCError) {
        if let token = context.metadata.bearerToken, case .valid(let claims) = core.validate(token: token), claims.isService { return }
        if core.serviceCertificateBound(subject: context.peerCertificateSubject, uriSAN: context.peerCertificateURISAN) { return }
        throw RPCError(.unauthenticated, "Validate requires a service token or a bound client certificate.")
    }
}
