// A service's first calls to authd, from a package outside this repository: health, register,
// status with the bearer token, validate it as another service would, log out.
//
//   swift run --package-path clients/swift/Example auth-example 127.0.0.1:7443 .data/dev/ca.pem
import AuthAPI
import AuthClient
import Foundation
import RPCCore
import RPCTransport

let arguments = CommandLine.arguments
guard arguments.count >= 3, let colon = arguments[1].lastIndex(of: ":"), let port = Int(arguments[1][arguments[1].index(after: colon)...]) else {
    FileHandle.standardError.write(Data("usage: auth-example HOST:PORT CA_FILE [EMAIL PASSWORD]\n".utf8))
    exit(2)
}
let host = String(arguments[1][..<colon])
let email = arguments.count > 3 ? arguments[3] : "example-\(UUID().uuidString.prefix(8).lowercased())@example.com"
let password = arguments.count > 4 ? arguments[4] : "example-\(UUID().uuidString)"

do {
    let connection = try ClientConnection(configuration: ClientConfiguration(
        host: host, port: port, tls: .client(trustRootsFile: arguments[2])))
    defer { connection.close() }
    let auth = Auth.Client(transport: connection)

    let health = try auth.health(HealthRequest())
    print("health: \(health.status == .serving ? "SERVING" : "not serving (\(health.status))")")
    let tokens = try auth.register(RegisterRequest(email: email, password: password))
    print("registered \(email) as user \(tokens.userId)")
    let me = try auth.status(StatusRequest(), options: .bearer(tokens.token))
    print("status: user \(me.userId), \(me.email)")
    let check = try auth.validate(ValidateRequest(token: tokens.token))
    print("validate: valid=\(check.valid)")
    _ = try auth.logout(LogoutRequest(), options: .bearer(tokens.token))
    let after = try auth.validate(ValidateRequest(token: tokens.token))
    print("validate after logout: valid=\(after.valid), \(after.message)")
} catch let error as RPCError {
    FileHandle.standardError.write(Data("auth-example: \(error.code.name): \(error.message)\n".utf8))
    exit(1)
}
