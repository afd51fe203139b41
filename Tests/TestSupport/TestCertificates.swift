import Foundation

/// A throwaway PKI made at test time with the `openssl` command: a CA, a server certificate for
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

    /// Makes a new set in a new temporary folder.
    public static func make() throws -> TestCertificates {
        let dir = try TestEnvironment.makeTemporaryDirectory("certs")
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func openssl(_ args: [String]) throws {
            let r = try ProcessRunner.run("openssl", args, timeout: 30)
            guard r.status == 0 else { throw TestSetupError("openssl \(args.first ?? "") failed: \(r.stderr)") }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        func makeCA(_ name: String, subject: String) throws {
            try openssl(["req", "-x509"] + ec + ["-keyout", path("\(name).key"), "-out", path("\(name).pem"),
                         "-days", "2", "-subj", subject,
                         "-addext", "basicConstraints=critical,CA:TRUE",
                         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        }
        func makeLeaf(_ name: String, subject: String, ca: String, extensions: String) throws {
            try openssl(["req"] + ec + ["-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", subject])
            try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                         "-CAcreateserial", "-out", path("\(name).pem"), "-days", "2", "-extfile", path("\(name).ext")])
        }
        try makeCA("ca", subject: "/CN=authd test CA")
        try makeCA("rogue-ca", subject: "/CN=rogue CA")
        try makeLeaf("server", subject: "/CN=localhost", ca: "ca",
                     extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n")
        try makeLeaf("client", subject: "/CN=test-client", ca: "ca", extensions: "extendedKeyUsage=clientAuth\n")
        try makeLeaf("rogue-client", subject: "/CN=rogue-client", ca: "rogue-ca", extensions: "extendedKeyUsage=clientAuth\n")
        return TestCertificates(directory: dir, caFile: path("ca.pem"),
                                serverCertificateFile: path("server.pem"), serverKeyFile: path("server.key"),
                                clientCertificateFile: path("client.pem"), clientKeyFile: path("client.key"),
                                rogueClientCertificateFile: path("rogue-client.pem"), rogueClientKeyFile: path("rogue-client.key"))
    }
}
