import AuthAPI
import AuthCore
import RPCCore
import StandardAPI

/// The standard gRPC health service (`grpc.health.v1.Health`), with the answers of
/// `Auth/Health`: the whole server ("") and `auth.v1.Auth` are SERVING while the database
/// answers and NOT_SERVING otherwise; any other name fails NOT_FOUND, as the health-checking
/// protocol says. `Watch` is not served (the server answers UNIMPLEMENTED; clients poll `Check`).
/// `Check` runs inline: it reads the state the core's background probe keeps.
public struct HealthService: Grpc_Health_V1_Health.Handler {
    let core: AuthCore

    public init(core: AuthCore) {
        self.core = core
    }

    /// The method table to serve.
    public static func service(core: AuthCore) -> Grpc_Health_V1_Health.Service {
        Grpc_Health_V1_Health.service(HealthService(core: core), inline: [Grpc_Health_V1_Health.Method.check])
    }

    public func check(_ request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) throws -> Grpc_Health_V1_HealthCheckResponse {
        guard request.service.isEmpty || request.service == Auth.name else {
            throw RPCError(.notFound, "Unknown service.")
        }
        return Grpc_Health_V1_HealthCheckResponse(status: core.health() ? .serving : .notServing)
    }
}
