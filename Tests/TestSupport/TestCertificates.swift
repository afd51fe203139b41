import DevCertificates
import Foundation

/// A throwaway PKI made at test time: a CA, a server certificate for
/// `localhost` / 127.0.0.1 / ::1, a client certificate (mTLS), and a client certificate from an
/// unrelated CA (to be refused). Files live in a temporary folder for the whole test process.
public struct TestCertificates: Sendable {
    public var directory: URL
    public var caFile: String
    public var serverCertificateFile: String
    public var serverKeyFile: String
    public var clientCertificateFile: String
    public var clientKeyFile: String
    public var rogueClientCertificateFile: String
    public var rogueClientKeyFile: String

    /// The process-wide set, made on first use.
    public static func shared() throws -> TestCertificates {
        try cached.get()
    }

    private static let cached: Result<TestCertificates, any Error> = Result { try make() }

    /// Makes a new set in a new temporary folder (with `CertificateFactory`, the OpenSSL API).
    public static func make() throws -> TestCertificates {
        let dir = try TestEnvironment.makeTemporaryDirectory("certs")
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func save(_ issued: CertificateFactory.Issued, as name: String) throws {
            try CertificateFactory.write(issued.certificatePEM, to: path("\(name).pem"), mode: 0o644)
            try CertificateFactory.write(issued.privateKeyPEM, to: path("\(name).key"), mode: 0o600)
        }
        let ca = try CertificateFactory.makeAuthority(commonName: "authd test CA", days: 2)
        let rogueCA = try CertificateFactory.makeAuthority(commonName: "rogue CA", days: 2)
        try save(ca, as: "ca")
        try save(try CertificateFactory.makeLeaf(commonName: "localhost",
                                                 subjectAltNames: ["DNS:localhost", "IP:127.0.0.1", "IP:::1"],
                                                 authority: ca, days: 2), as: "server")
        try save(try CertificateFactory.makeLeaf(commonName: "test-client", subjectAltNames: [], authority: ca,
                                                 serverAuth: false, clientAuth: true, days: 2), as: "client")
        try save(try CertificateFactory.makeLeaf(commonName: "rogue-client", subjectAltNames: [], authority: rogueCA,
                                                 serverAuth: false, clientAuth: true, days: 2), as: "rogue-client")
        return TestCertificates(directory: dir, caFile: path("ca.pem"),
                                serverCertificateFile: path("server.pem"), serverKeyFile: path("server.key"),
                                clientCertificateFile: path("client.pem"), clientKeyFile: path("client.key"),
                                rogueClientCertificateFile: path("rogue-client.pem"), rogueClientKeyFile: path("rogue-client.key"))
    }
}
