import COpenSSL
import CEpoll
import Glibc

/// One TLS session over a non-blocking socket. Owns the `SSL` and the file descriptor.
/// Used by one thread at a time (an event loop or a client's I/O thread).
final class TLSConnection {
    enum IOResult: Equatable {
        /// Bytes read or written.
        case done(Int)
        /// Retry when the socket is readable / writable.
        case wantRead, wantWrite
        /// The peer closed the session (close_notify or EOF).
        case closed
    }

    let ssl: OpaquePointer
    let fd: Int32
    /// Kept alive while the session lives: the SSL holds a reference to its SSL_CTX, but the ALPN
    /// list the context's callback reads is ours (a server may swap its context mid-handshake).
    private let context: TLSContext
    private var isClosed = false

    /// Wraps `fd` (already connected or accepted, non-blocking) in a TLS session; takes ownership of `fd`.
    /// `serverName` (client side) is checked against the server's certificate and sent as SNI when it is a host name.
    init(context: TLSContext, fd: Int32, serverName: String? = nil, verifyName: Bool = true) throws(TLSError) {
        // SSL_new returns NULL on allocation failure.
        guard let ssl = SSL_new(context.context) else {
            close(fd)
            throw TLSError.drain("creating a TLS session")
        }
        self.ssl = ssl
        self.fd = fd
        self.context = context
        // Returns 1 on success, 0 if the socket BIO cannot be made.
        guard SSL_set_fd(ssl, fd) == 1 else { throw TLSError.drain("attaching the socket") }
        if context.isServer {
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
            if let name = serverName {
                if TLSConnection.isIPAddress(name) {
                    // Returns 1 on success, 0 when the string is not an IP address.
                    if verifyName, X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1 {
                        throw TLSError.drain("setting the expected IP address \(name)")
                    }
                } else {
                    _ = COpenSSL_SSL_set_tlsext_host_name(ssl, name)
                    // Returns 1 on success.
                    if verifyName, SSL_set1_host(ssl, name) != 1 { throw TLSError.drain("setting the expected host name") }
                }
            }
        }
    }

    deinit {
        SSL_free(ssl)
        close(fd)
    }

    static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }

    /// Advances the handshake: `.done(0)` once complete.
    func handshake() throws(TLSError) -> IOResult {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 { return .done(0) }
        return try classify(rc, "TLS handshake")
    }

    /// Reads decrypted bytes into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> IOResult {
        ERR_clear_error()
        let rc = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if rc > 0 { return .done(Int(rc)) }
        return try classify(rc, "TLS read")
    }

    /// Writes from `bytes` (partial writes allowed).
    func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) -> IOResult {
        guard bytes.count > 0 else { return .done(0) }
        ERR_clear_error()
        let rc = SSL_write(ssl, bytes.baseAddress, Int32(min(bytes.count, 1 << 20)))
        if rc > 0 { return .done(Int(rc)) }
        return try classify(rc, "TLS write")
    }

    /// Sends close_notify, best effort (the socket is closed in deinit).
    func shutdown() {
        guard !isClosed else { return }
        isClosed = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Whether decrypted bytes are buffered inside OpenSSL.
    var hasPendingBytes: Bool { SSL_pending(ssl) > 0 }

    /// Whether OpenSSL holds input the socket will not signal again: decrypted bytes, or (with
    /// read-ahead) received records not yet processed. May be true for a partial record.
    var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    /// The negotiated ALPN id, if any.
    var negotiatedALPN: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The subject of the peer's verified certificate (`/CN=…`), if it sent one.
    var peerCertificateSubject: String? {
        // SSL_get1_peer_certificate returns a new reference or NULL.
        guard let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        guard SSL_get_verify_result(ssl) == X509_V_OK, let name = X509_get_subject_name(cert),
              let line = X509_NAME_oneline(name, nil, 0) else { return nil }
        defer { CRYPTO_free(line, #fileID, #line) }
        return String(cString: line)
    }

    /// The first URI subject alternative name of the peer's verified certificate (a SPIFFE ID,
    /// say), if it sent one that has one.
    var peerCertificateURISAN: String? {
        // SSL_get1_peer_certificate returns a new reference or NULL.
        guard let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        // X509_get_ext_d2i: a new GENERAL_NAMES (freed below), or NULL when the extension is absent or malformed.
        guard SSL_get_verify_result(ssl) == X509_V_OK,
              let raw = X509_get_ext_d2i(cert, NID_subject_alt_name, nil, nil) else { return nil }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        for i in 0..<max(0, OPENSSL_sk_num(names)) {
            guard let name = OPENSSL_sk_value(names, i)?.assumingMemoryBound(to: GENERAL_NAME.self),
                  name.pointee.type == GEN_URI, let uri = name.pointee.d.uniformResourceIdentifier,
                  let data = ASN1_STRING_get0_data(uri) else { continue }
            let length = Int(ASN1_STRING_length(uri))
            guard length > 0, length <= 2048 else { continue }
            return String(decoding: UnsafeBufferPointer(start: data, count: length), as: UTF8.self)
        }
        return nil
    }

    private func classify(_ rc: Int32, _ operation: String) throws(TLSError) -> IOResult {
        // SSL_get_error tells why an SSL_* call returned <= 0.
        let error = SSL_get_error(ssl, rc)
        switch error {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL:
            let reasons = TLSError.drainErrorQueue()
            let e = errno
            if reasons.isEmpty && (e == 0 || e == ECONNRESET || e == EPIPE) { return .closed }
            throw TLSError(operation, reasons: reasons.isEmpty ? [String(cString: strerror(e))] : reasons)
        default:
            var reasons = TLSError.drainErrorQueue()
            if SSL_get_verify_result(ssl) != X509_V_OK {
                reasons.append(String(cString: X509_verify_cert_error_string(Int(SSL_get_verify_result(ssl)))))
            }
            throw TLSError(operation, reasons: reasons)
        }
    }
}
