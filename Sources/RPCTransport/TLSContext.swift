import COpenSSL

/// An OpenSSL `SSL_CTX` configured for our protocol: certificates, versions, ALPN, verification.
/// One per server or client; connections are made from it.
public final class TLSContext: @unchecked Sendable {
    // @unchecked Sendable: the SSL_CTX is fully configured in init and only read afterwards
    // (SSL_new takes its own reference); OpenSSL makes concurrent SSL_new on one context safe.
    // A server swaps in a new context on reload (`RPCServer.reloadTLS`); every `TLSConnection`
    // keeps its context alive, so the ALPN list its handshake's callback reads outlives it.
    let context: OpaquePointer
    /// ALPN protocol list in wire format (length-prefixed), kept alive for the select callback: a
    /// client offers `authrpc/1`; a server accepts `authrpc/1`, then `h2` (gRPC over HTTP/2).
    private let alpnWire: UnsafeMutableBufferPointer<UInt8>
    public let isServer: Bool

    /// Makes a context for a server (`isServer`) or a client. Throws `TLSError` with OpenSSL's reasons
    /// when a file cannot be read or the key does not match the certificate.
    public init(configuration: TLSConfiguration, isServer: Bool) throws(TLSError) {
        self.isServer = isServer
        // SSL_CTX_new returns NULL on allocation failure.
        guard let ctx = SSL_CTX_new(isServer ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError.drain("creating the SSL context")
        }
        context = ctx
        let offered = isServer ? [WireProtocol.alpn, GRPCWire.alpn] : [WireProtocol.alpn]
        let alpn = offered.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        alpnWire = .allocate(capacity: alpn.count)
        _ = alpnWire.initialize(from: alpn)

        let minimum = configuration.minimumVersion == .tls13 ? COpenSSL_TLS1_3_VERSION : COpenSSL_TLS1_2_VERSION
        // These macros return 1 on success; failure means a bug of ours.
        precondition(COpenSSL_SSL_CTX_set_min_proto_version(ctx, minimum) == 1)
        if let maximum = configuration.maximumVersion {
            let version = maximum == .tls13 ? COpenSSL_TLS1_3_VERSION : COpenSSL_TLS1_2_VERSION
            precondition(COpenSSL_SSL_CTX_set_max_proto_version(ctx, version) == 1)
        }
        _ = SSL_CTX_set_options(ctx, COpenSSL_SSL_OP_NO_COMPRESSION | COpenSSL_SSL_OP_NO_RENEGOTIATION)
        // The suites and groups of our profile, on both sides (TLSConfiguration says which).
        // Each returns 1 on success, 0 when none of the names is usable (reasons queued).
        guard SSL_CTX_set_cipher_list(ctx, TLSConfiguration.tls12CipherSuites.joined(separator: ":")) == 1 else {
            throw TLSError.drain("setting the TLS 1.2 cipher suites")
        }
        guard SSL_CTX_set_ciphersuites(ctx, TLSConfiguration.tls13CipherSuites.joined(separator: ":")) == 1 else {
            throw TLSError.drain("setting the TLS 1.3 cipher suites")
        }
        guard COpenSSL_SSL_CTX_set1_groups_list(ctx, TLSConfiguration.keyExchangeGroups.joined(separator: ":")) == 1 else {
            throw TLSError.drain("setting the key-exchange groups")
        }
        // Idle connections give their read/write buffers back; partial writes for non-blocking I/O.
        _ = COpenSSL_SSL_CTX_set_mode(ctx, COpenSSL_SSL_MODE_RELEASE_BUFFERS | COpenSSL_SSL_MODE_ENABLE_PARTIAL_WRITE
                                      | COpenSSL_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)

        if let chain = configuration.certificateChainFile {
            // Both return 1 on success, 0 with the reason on the error queue.
            guard SSL_CTX_use_certificate_chain_file(ctx, chain) == 1 else {
                throw TLSError.drain("loading the certificate chain \(chain)")
            }
            guard let key = configuration.privateKeyFile,
                  SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError.drain("loading the private key \(configuration.privateKeyFile ?? "(none given)")")
            }
            guard SSL_CTX_check_private_key(ctx) == 1 else {
                throw TLSError.drain("matching the private key to the certificate")
            }
        } else if isServer {
            throw TLSError("configuring the server", reasons: ["no certificate chain file given"])
        }

        if let roots = configuration.trustRootsFile {
            // Returns 1 on success, 0 with reasons queued.
            guard SSL_CTX_load_verify_locations(ctx, roots, nil) == 1 else {
                throw TLSError.drain("loading the trust roots \(roots)")
            }
        } else if !isServer && configuration.verifyPeer {
            guard SSL_CTX_set_default_verify_paths(ctx) == 1 else { throw TLSError.drain("loading the system trust roots") }
        }

        if isServer {
            switch configuration.clientCertificates {
            case .none:
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
            case .optional, .required:
                guard let roots = configuration.trustRootsFile else {
                    throw TLSError("configuring client certificates", reasons: ["mTLS needs a trust roots file"])
                }
                if let names = SSL_load_client_CA_file(roots) { SSL_CTX_set_client_CA_list(ctx, names) }
                let mode = configuration.clientCertificates == .required
                    ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
                SSL_CTX_set_verify(ctx, mode, nil)
            }
            // Read-ahead: one read(2) takes whatever the socket holds (many records) instead of two
            // reads per record (header, then body); a busy connection made ~0.4 reads a call without it.
            // Idle connections still give the buffer back (RELEASE_BUFFERS); ServerConnection asks
            // `hasBufferedInput` (SSL_has_pending), which counts these raw bytes, before it stops reading.
            // SSL_CTX_set_read_ahead is a macro over SSL_CTX_ctrl; it returns the previous setting.
            _ = SSL_CTX_ctrl(ctx, SSL_CTRL_SET_READ_AHEAD, 1, nil)
            // No session tickets: every connection is long-lived; keeps per-connection state small.
            _ = COpenSSL_SSL_CTX_set_num_tickets(ctx, 0)
            SSL_CTX_set_alpn_select_cb(ctx, { _, out, outLength, clientList, clientLength, arg in
                guard let arg, let out, let outLength, let clientList else { return SSL_TLSEXT_ERR_ALERT_FATAL }
                let ours = arg.assumingMemoryBound(to: UInt8.self)
                var selected: UnsafeMutablePointer<UInt8>?
                // Returns OPENSSL_NPN_NEGOTIATED when both lists share a protocol (ours in our order).
                let rc = SSL_select_next_proto(&selected, outLength, ours, TLSContext.serverALPNLength, clientList, clientLength)
                guard rc == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_ALERT_FATAL }
                out.pointee = UnsafePointer(selected)
                return SSL_TLSEXT_ERR_OK
            }, alpnWire.baseAddress)
        } else {
            SSL_CTX_set_verify(ctx, configuration.verifyPeer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
            // Returns 0 on success (unlike most of OpenSSL).
            guard SSL_CTX_set_alpn_protos(ctx, alpnWire.baseAddress, UInt32(alpnWire.count)) == 0 else {
                throw TLSError.drain("setting ALPN")
            }
        }
    }

    /// The certificate this context presents (the chain's leaf); nil when it has none (a client without mTLS).
    public var certificate: CertificateSummary? {
        // SSL_CTX_get0_certificate returns the loaded leaf (borrowed) or NULL.
        SSL_CTX_get0_certificate(context).map(CertificateSummary.init(x509:))
    }

    /// How many CA names a server sends when it asks for client certificates (0 without mTLS).
    public var clientCANameCount: Int {
        // SSL_CTX_get_client_CA_list returns the context's list (borrowed) or NULL; OPENSSL_sk_num -1 for NULL.
        guard let names = SSL_CTX_get_client_CA_list(context) else { return 0 }
        return max(0, Int(OPENSSL_sk_num(names)))
    }

    /// The length of the server's ALPN list in wire format (`authrpc/1`, `h2`).
    private static let serverALPNLength = UInt32(2 + WireProtocol.alpn.utf8.count + GRPCWire.alpn.utf8.count)

    deinit {
        SSL_CTX_free(context)
        alpnWire.deallocate()
    }
}
