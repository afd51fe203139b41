import COpenSSL
import Foundation
import Glibc
import RPCTransport

/// A one-shot TLS handshake with a server on 127.0.0.1, to see from the client side which
/// certificate it presents (a TLS reload test's "new connections see the new certificate").
public enum TLSProbe {
    /// Connects, handshakes (verifying the server against `caFile` when given, offering the
    /// authrpc ALPN), and returns the server's certificate. Throws when the handshake fails.
    public static func serverCertificate(port: Int, caFile: String?, timeout: TimeInterval = 5) throws -> CertificateSummary {
        let fd = try connectLoopback(port: port, readTimeout: timeout, writeTimeout: timeout)
        defer { close(fd) }
        return try serverCertificate(connected: fd, caFile: caFile)
    }

    /// The same handshake over `fd`, a blocking socket already connected (not closed here).
    public static func serverCertificate(connected fd: Int32, caFile: String?) throws -> CertificateSummary {
        // SSL_CTX_new / SSL_new return NULL on allocation failure.
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TestSetupError("SSL_CTX_new failed") }
        defer { SSL_CTX_free(ctx) }
        if let caFile {
            // Returns 1 on success.
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else { throw TestSetupError("cannot load \(caFile)") }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        }
        let alpn = [UInt8(WireProtocol.alpn.utf8.count)] + Array(WireProtocol.alpn.utf8)
        // Returns 0 on success.
        guard SSL_CTX_set_alpn_protos(ctx, alpn, UInt32(alpn.count)) == 0 else { throw TestSetupError("ALPN") }
        guard let ssl = SSL_new(ctx) else { throw TestSetupError("SSL_new failed") }
        defer { SSL_free(ssl) }
        _ = SSL_set_fd(ssl, fd)
        // SSL_connect returns 1 once the handshake is done.
        guard SSL_connect(ssl) == 1 else {
            let reason = ERR_get_error()
            ERR_clear_error()
            throw TestSetupError("TLS handshake failed: \(reason == 0 ? "connection closed" : String(cString: ERR_reason_error_string(reason)))")
        }
        // SSL_get1_peer_certificate returns a new reference or NULL.
        guard let certificate = SSL_get1_peer_certificate(ssl) else { throw TestSetupError("no server certificate") }
        defer { X509_free(certificate) }
        return CertificateSummary(x509: certificate)
    }
}
