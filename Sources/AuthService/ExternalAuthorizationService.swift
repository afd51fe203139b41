import AuthAPI
import AuthCore
import Foundation
import Logging
import RPCCore
import StandardAPI

/// Envoy's external authorization API (`envoy.service.auth.v3.Authorization/Check`) on `Validate`:
/// the bearer token of the request's `authorization` header is validated exactly as `Validate`
/// validates it (cache, revocations, expiry, UNAVAILABLE when the revocations are stale).
///
/// - valid: status OK, and for the upstream the headers `x-auth-user-id`, `x-auth-admin`
///   (`true`/`false`), `x-auth-subject-kind` (`user`/`service`) and `x-auth-scopes` (the token's
///   scopes, space-separated; empty for a user), replacing any the client sent;
/// - refused (missing, invalid, expired, revoked): status UNAUTHENTICATED with the refusal's
///   message, and a denied HTTP response: 401 with that message as its body.
///
/// Inline, as `Validate`: its cost is Validate's plus decoding Envoy's request.
public enum ExternalAuthorizationService {
    /// The upstream header carrying the user's id.
    public static let userIDHeader = "x-auth-user-id"
    /// The upstream header saying whether the user is an administrator (`true` or `false`).
    public static let adminHeader = "x-auth-admin"
    /// The upstream header saying what the token stands for: `user` or `service`.
    public static let subjectKindHeader = "x-auth-subject-kind"
    /// The upstream header with the token's scopes, space-separated.
    public static let scopesHeader = "x-auth-scopes"

    /// The method table to serve, on the same core (and validated-token cache) as `Auth`.
    /// `validateCallers` as for `Auth`'s Validate: with `.authenticated`, Check asks the same of its
    /// caller (Envoy's own service token or bound client certificate), so it is no way around it.
    public static func service(core: AuthCore, logger: Logger, validateCallers: ValidateCallers = .any,
                               now: @escaping @Sendable () -> Date = { Date() }) -> some RPCServiceProvider {
        let handler = AuthServiceHandler(core: core, logger: logger, now: now)
        return Envoy_Service_Auth_V3_Authorization.service(Handler(auth: handler, checkCaller: validateCallers == .authenticated),
                                                           inline: [Envoy_Service_Auth_V3_Authorization.Method.check])
    }

    struct Handler: Envoy_Service_Auth_V3_Authorization.Handler {
        let auth: AuthServiceHandler
        let checkCaller: Bool

        func check(_ request: Envoy_Service_Auth_V3_CheckRequest, context: ServerContext) throws -> Envoy_Service_Auth_V3_CheckResponse {
            if checkCaller { try auth.checkValidateCaller(context) }
            let reply = try auth.reply(auth.core.validate(token: ExternalAuthorizationService.bearerToken(request) ?? ""))
            return ExternalAuthorizationService.response(reply)
        }
    }

    /// The bearer token of the `authorization` header (names compared lower-cased, as Envoy sends them).
    static func bearerToken(_ request: Envoy_Service_Auth_V3_CheckRequest) -> String? {
        guard let headers = request.attributes?.request?.http?.headers,
              let value = headers.last(where: { $0.key.lowercased() == "authorization" })?.value else { return nil }
        return Metadata.bearerToken(authorization: value)
    }

    /// Envoy's answer for Validate's.
    static func response(_ reply: ValidateReply) -> Envoy_Service_Auth_V3_CheckResponse {
        typealias Header = Envoy_Config_Core_V3_HeaderValueOption
        func header(_ key: String, _ value: String) -> Header {
            Header(header: Envoy_Config_Core_V3_HeaderValue(key: key, value: value), appendAction: .overwriteIfExistsOrAdd)
        }
        if reply.valid {
            return Envoy_Service_Auth_V3_CheckResponse(
                status: Google_Rpc_Status(code: Int32(StatusCode.ok.rawValue)),
                okResponse: Envoy_Service_Auth_V3_OkHttpResponse(headers: [
                    header(userIDHeader, String(reply.userId)), header(adminHeader, reply.admin ? "true" : "false"),
                    header(subjectKindHeader, reply.kind == .service ? "service" : "user"),
                    header(scopesHeader, reply.scopes.joined(separator: " ")),
                ]))
        }
        return Envoy_Service_Auth_V3_CheckResponse(
            status: Google_Rpc_Status(code: Int32(StatusCode.unauthenticated.rawValue), message: reply.message),
            deniedResponse: Envoy_Service_Auth_V3_DeniedHttpResponse(
                status: Envoy_Type_V3_HttpStatus(code: .unauthorized),
                headers: [header("content-type", "text/plain")], body: reply.message))
    }
}
