import AuthCore
import AuthService
import Logging
import RPCCore

extension Authd {
    /// What authd serves: `auth.v1.Auth`, and on the same core the standard services — gRPC
    /// health, Envoy's ext_authz `Check`, and server reflection (v1, v1alpha) listing them all.
    static func services(core: AuthCore, validateCallers: ValidateCallers = .any) -> [any RPCServiceProvider] {
        let logger = Logger(label: "authd.rpc")
        var services: [any RPCServiceProvider] = [
            AuthServiceHandler.service(core: core, logger: logger, validateCallers: validateCallers),
            HealthService.service(core: core),
            ExternalAuthorizationService.service(core: core, logger: logger, validateCallers: validateCallers),
        ]
        services += ReflectionService.services(listing: services.flatMap { $0.methods.map(\.descriptor.service) })
        return services
    }
}
