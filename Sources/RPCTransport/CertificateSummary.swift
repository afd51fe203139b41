import COpenSSL
import Glibc

/// Who a certificate names and which one it is (subject, serial, expiry): what a TLS reload
/// reports and logs. Public data only, never key material.
public struct CertificateSummary: Sendable, Equatable, CustomStringConvertible {
    /// The subject as OpenSSL prints it on one line (`/CN=authd`).
    public var subject: String
    /// The serial number in upper-case hex.
    public var serial: String
    /// The end of validity, `YYYY-MM-DD HH:MM:SS UTC`; empty when OpenSSL cannot read it.
    public var notAfter: String

    /// Reads an OpenSSL `X509*` (borrowed: not freed here).
    public init(x509: OpaquePointer) {
        subject = ""
        if let name = X509_get_subject_name(x509), let line = X509_NAME_oneline(name, nil, 0) {
            // X509_NAME_oneline allocates the string (NULL on failure); freed with OPENSSL_free.
            subject = String(cString: line)
            CRYPTO_free(line, #fileID, #line)
        }
        serial = ""
        // ASN1_INTEGER_to_BN and BN_bn2hex return NULL on allocation failure.
        if let number = X509_get_serialNumber(x509), let bn = ASN1_INTEGER_to_BN(number, nil) {
            if let hex = BN_bn2hex(bn) {
                serial = String(cString: hex)
                CRYPTO_free(hex, #fileID, #line)
            }
            BN_free(bn)
        }
        notAfter = ""
        var tm = Glibc.tm()
        // ASN1_TIME_to_tm returns 1 on success, 0 for a time it cannot parse.
        if let time = X509_get0_notAfter(x509), ASN1_TIME_to_tm(time, &tm) == 1 {
            func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
            notAfter = "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday)) "
                + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) UTC"
        }
    }

    public var description: String { "\(subject) serial \(serial) expires \(notAfter)" }
}
