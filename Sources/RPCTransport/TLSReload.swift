/// What a server's TLS reload (`RPCServer.reloadTLS()`) changed: the certificate presented and
/// the client CA names sent, before and after. Public data only, for logs and operators.
public struct TLSReload: Sendable, CustomStringConvertible {
    /// The certificate new handshakes presented before the reload.
    public var previousCertificate: CertificateSummary?
    /// The certificate new handshakes present now.
    public var certificate: CertificateSummary?
    /// Client CA names sent (mTLS) before and after.
    public var previousClientCANames: Int
    public var clientCANames: Int

    /// Whether the presented certificate is another one (subject or serial differ).
    public var certificateChanged: Bool { previousCertificate != certificate }

    public var description: String {
        var parts: [String] = []
        if certificateChanged {
            parts.append("certificate \(certificate.map(String.init(describing:)) ?? "none") "
                         + "(was \(previousCertificate.map { "serial \($0.serial)" } ?? "none"))")
        } else {
            parts.append("certificate unchanged (\(certificate.map(String.init(describing:)) ?? "none"))")
        }
        if clientCANames > 0 || previousClientCANames > 0 {
            parts.append("client CA names \(clientCANames) (was \(previousClientCANames))")
        }
        return parts.joined(separator: "; ")
    }
}
