/// TLS settings of a server or client, from PEM files.
public struct TLSConfiguration: Sendable {
    /// Lowest protocol version accepted.
    public enum MinimumVersion: Sendable { case tls12, tls13 }
    /// Whether a server asks for client certificates (mTLS).
    public enum ClientCertificates: Sendable {
        /// Not asked for.
        case none
        /// Asked for; a presented certificate must verify against `trustRootsFile`, but none is fine.
        case optional
        /// Required, and verified against `trustRootsFile`.
        case required
    }

    /// PEM certificate chain (leaf first) presented to the peer; required for servers, optional for clients (mTLS).
    public var certificateChainFile: String?
    /// PEM private key of that certificate.
    public var privateKeyFile: String?
    /// PEM CA certificates the peer's certificate is verified against. Clients without one use the system's.
    public var trustRootsFile: String?
    /// Default TLS 1.3; `.tls12` lets TLS 1.2 peers in.
    public var minimumVersion: MinimumVersion
    /// Highest protocol version offered or accepted; nil: the newest OpenSSL has (for tests and odd peers).
    public var maximumVersion: MinimumVersion?
    /// Server side: whether client certificates are asked for.
    public var clientCertificates: ClientCertificates
    /// Client side: whether the server's certificate and name are verified (default true; false only for tests).
    public var verifyPeer: Bool

    /// TLS 1.2 cipher suites offered and accepted: ECDHE key exchange with AEAD encryption only
    /// (Mozilla's "intermediate" profile). No CBC, no RSA key exchange, no SHA-1 MAC.
    public static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ]
    /// TLS 1.3 cipher suites (all of them AEAD; named so a system OpenSSL configuration cannot add others).
    public static let tls13CipherSuites = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
    /// Key-exchange groups offered and accepted, TLS 1.3 and 1.2 alike (OpenSSL would also take
    /// X448, P-521 and the FFDHE groups, which Mozilla's profiles leave out).
    public static let keyExchangeGroups = ["X25519", "P-256", "P-384"]

    public init(certificateChainFile: String? = nil, privateKeyFile: String? = nil, trustRootsFile: String? = nil,
                minimumVersion: MinimumVersion = .tls13, clientCertificates: ClientCertificates = .none,
                verifyPeer: Bool = true) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.trustRootsFile = trustRootsFile
        self.minimumVersion = minimumVersion
        self.clientCertificates = clientCertificates
        self.verifyPeer = verifyPeer
        self.maximumVersion = nil
    }

    /// A server presenting `certificateChainFile` / `privateKeyFile`.
    public static func server(certificateChainFile: String, privateKeyFile: String,
                              clientCertificates: ClientCertificates = .none, trustRootsFile: String? = nil,
                              minimumVersion: MinimumVersion = .tls13) -> TLSConfiguration {
        TLSConfiguration(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile,
                         trustRootsFile: trustRootsFile, minimumVersion: minimumVersion,
                         clientCertificates: clientCertificates)
    }

    /// A client trusting `trustRootsFile` (nil: the system's roots), optionally presenting a certificate.
    public static func client(trustRootsFile: String?, certificateChainFile: String? = nil, privateKeyFile: String? = nil,
                              minimumVersion: MinimumVersion = .tls13) -> TLSConfiguration {
        TLSConfiguration(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile,
                         trustRootsFile: trustRootsFile, minimumVersion: minimumVersion)
    }
}
