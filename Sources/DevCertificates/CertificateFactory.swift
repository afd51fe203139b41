import COpenSSL
import Foundation

/// Makes a private certificate authority and certificates signed by it (EC P-256, SHA-256),
/// written as PEM files. For dev mode and tests only: production certificates come from the
/// operator. Everything goes through the OpenSSL API, no `openssl` executable is needed.
public enum CertificateFactory {
    /// A certificate and its private key, both PEM.
    public struct Issued: Sendable {
        public var certificatePEM: String
        public var privateKeyPEM: String
    }

    /// A self-signed CA certificate valid for `days`.
    public static func makeAuthority(commonName: String, days: Int = 3650) throws -> Issued {
        let key = try generateKey()
        let cert = try buildCertificate(subjectCN: commonName, publicKey: key, issuerCert: nil, issuerKey: key,
                                        days: days, extensions: [
                                            (NID_basic_constraints, "critical,CA:TRUE"),
                                            (NID_key_usage, "critical,keyCertSign,cRLSign"),
                                            (NID_subject_key_identifier, "hash"),
                                        ])
        return Issued(certificatePEM: try pem(cert: cert.raw), privateKeyPEM: try pem(key: key.raw))
    }

    /// A leaf certificate signed by `authority`. `subjectAltNames` are `DNS:name` or `IP:address`
    /// entries; `serverAuth`/`clientAuth` select the extended key usages.
    public static func makeLeaf(commonName: String, subjectAltNames: [String], authority: Issued,
                                serverAuth: Bool = true, clientAuth: Bool = false, days: Int = 825) throws -> Issued {
        let caKey = try readKey(authority.privateKeyPEM)
        let caCert = try readCertificate(authority.certificatePEM)
        let key = try generateKey()
        var usages: [String] = []
        if serverAuth { usages.append("serverAuth") }
        if clientAuth { usages.append("clientAuth") }
        var extensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"),
            (NID_key_usage, "critical,digitalSignature,keyAgreement"),
        ]
        if !usages.isEmpty { extensions.append((NID_ext_key_usage, usages.joined(separator: ","))) }
        if !subjectAltNames.isEmpty { extensions.append((NID_subject_alt_name, subjectAltNames.joined(separator: ","))) }
        let cert = try buildCertificate(subjectCN: commonName, publicKey: key, issuerCert: caCert,
                                        issuerKey: caKey, days: days, extensions: extensions)
        return Issued(certificatePEM: try pem(cert: cert.raw), privateKeyPEM: try pem(key: key.raw))
    }

    // MARK: - OpenSSL plumbing

    private final class Key {
        let raw: OpaquePointer
        init(_ raw: OpaquePointer) { self.raw = raw }
        deinit { EVP_PKEY_free(raw) }
    }

    private final class Certificate {
        let raw: OpaquePointer
        init(_ raw: OpaquePointer) { self.raw = raw }
        deinit { X509_free(raw) }
    }

    private static func generateKey() throws -> Key {
        // EVP_EC_gen returns NULL on failure (error queue says why).
        guard let key = COpenSSL_EC_gen("P-256") else { throw TLSSetupError.openSSL("EC key generation") }
        return Key(key)
    }

    private static func buildCertificate(subjectCN: String, publicKey: Key, issuerCert: Certificate?, issuerKey: Key,
                                         days: Int, extensions: [(Int32, String)]) throws -> Certificate {
        guard let x509 = X509_new() else { throw TLSSetupError.openSSL("X509_new") }
        let cert = Certificate(x509)
        X509_set_version(x509, 2)  // v3
        var serial = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&serial, Int32(serial.count)) == 1 else { throw TLSSetupError.openSSL("RAND_bytes") }
        serial[0] &= 0x7F
        guard let bn = BN_bin2bn(serial, Int32(serial.count), nil) else { throw TLSSetupError.openSSL("BN_bin2bn") }
        defer { BN_free(bn) }
        guard BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x509)) != nil else { throw TLSSetupError.openSSL("serial") }
        X509_gmtime_adj(X509_getm_notBefore(x509), -3600)
        X509_gmtime_adj(X509_getm_notAfter(x509), days * 86400)
        guard X509_set_pubkey(x509, publicKey.raw) == 1 else { throw TLSSetupError.openSSL("X509_set_pubkey") }
        let name = X509_get_subject_name(x509)
        guard X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, subjectCN, -1, -1, 0) == 1 else {
            throw TLSSetupError.openSSL("subject name")
        }
        let issuerName = issuerCert.map { X509_get_subject_name($0.raw) } ?? name
        guard X509_set_issuer_name(x509, issuerName) == 1 else { throw TLSSetupError.openSSL("issuer name") }

        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuerCert?.raw ?? x509, x509, nil, nil, 0)
        for (nid, value) in extensions {
            // X509V3_EXT_conf_nid returns NULL when the value does not parse.
            guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else {
                throw TLSSetupError.openSSL("extension \(value)")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x509, ext, -1) == 1 else { throw TLSSetupError.openSSL("X509_add_ext") }
        }
        if issuerCert != nil {
            if let ext = X509V3_EXT_conf_nid(nil, &ctx, NID_authority_key_identifier, "keyid:always") {
                defer { X509_EXTENSION_free(ext) }
                X509_add_ext(x509, ext, -1)
            }
        }
        // X509_sign returns the signature size, 0 on failure.
        guard X509_sign(x509, issuerKey.raw, EVP_sha256()) > 0 else { throw TLSSetupError.openSSL("X509_sign") }
        return cert
    }

    private static func withMemoryBIO(_ body: (OpaquePointer) -> Int32) throws -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw TLSSetupError.openSSL("BIO_new") }
        defer { BIO_free(bio) }
        guard body(bio) == 1 else { throw TLSSetupError.openSSL("PEM write") }
        var pointer: UnsafeMutablePointer<CChar>?
        let length = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &pointer)
        guard length > 0, let pointer else { throw TLSSetupError.openSSL("PEM read back") }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    private static func pem(cert: OpaquePointer) throws -> String {
        try withMemoryBIO { PEM_write_bio_X509($0, cert) }
    }

    private static func pem(key: OpaquePointer) throws -> String {
        try withMemoryBIO { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
    }

    private static func withReadBIO<T>(_ text: String, _ body: (OpaquePointer) -> T?) throws -> T {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { throw TLSSetupError.openSSL("BIO_new_mem_buf") }
            defer { BIO_free(bio) }
            guard let value = body(bio) else { throw TLSSetupError.openSSL("PEM parse") }
            return value
        }
    }

    private static func readKey(_ pem: String) throws -> Key {
        Key(try withReadBIO(pem) { PEM_read_bio_PrivateKey($0, nil, nil, nil) })
    }

    private static func readCertificate(_ pem: String) throws -> Certificate {
        Certificate(try withReadBIO(pem) { PEM_read_bio_X509($0, nil, nil, nil) })
    }

    /// Writes `text` to `path` with the given permissions (0600 for keys), replacing any file there.
    public static func write(_ text: String, to path: String, mode: mode_t) throws {
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.removeItem(at: url)
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8),
                                             attributes: [.posixPermissions: Int(mode)]) else {
            throw TLSSetupError.io("cannot write \(path)")
        }
    }
}

/// Failure while making dev TLS material, carrying OpenSSL's reason text.
public enum TLSSetupError: Error, CustomStringConvertible {
    case openSSL(String, reasons: [String])
    case io(String)

    /// An error for the failed `operation`, draining OpenSSL's error queue into it.
    static func openSSL(_ operation: String) -> TLSSetupError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return .openSSL(operation, reasons: reasons)
    }

    public var description: String {
        switch self {
        case .openSSL(let op, let reasons): reasons.isEmpty ? "\(op) failed" : "\(op) failed: \(reasons.joined(separator: "; "))"
        case .io(let message): message
        }
    }
}
