import AuthCore
import DevCertificates
import Foundation

/// Dev-mode material under `.data/dev/`, made on first use and kept between runs:
/// `ca.pem` (+ `ca.key`), `server.pem` + `server.key` (for 127.0.0.1, ::1 and localhost, signed by
/// the CA), `jwt.secret` (32 random bytes, base64) and `key-encryption.key` (the same, sealing the
/// key set's private keys). Keys and the secret are mode 0600.
struct DevMaterial {
    let directory: URL

    var caPath: String { directory.appendingPathComponent("ca.pem").path }
    var caKeyPath: String { directory.appendingPathComponent("ca.key").path }
    var certificatePath: String { directory.appendingPathComponent("server.pem").path }
    var keyPath: String { directory.appendingPathComponent("server.key").path }
    var secretPath: String { directory.appendingPathComponent("jwt.secret").path }
    /// Seals the key set's private keys in the dev database.
    var keyEncryptionKeyPath: String { directory.appendingPathComponent("key-encryption.key").path }

    /// Makes whatever is missing; leaves what exists alone.
    func ensure() throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true,
                               attributes: [.posixPermissions: 0o700])
        if !fm.fileExists(atPath: caPath) || !fm.fileExists(atPath: certificatePath) || !fm.fileExists(atPath: keyPath) {
            let ca = try CertificateFactory.makeAuthority(commonName: "authd dev CA")
            let server = try CertificateFactory.makeLeaf(
                commonName: "authd dev server", subjectAltNames: ["DNS:localhost", "IP:127.0.0.1", "IP:::1"],
                authority: ca, serverAuth: true)
            try CertificateFactory.write(ca.privateKeyPEM, to: caKeyPath, mode: 0o600)
            try CertificateFactory.write(ca.certificatePEM, to: caPath, mode: 0o644)
            try CertificateFactory.write(server.privateKeyPEM, to: keyPath, mode: 0o600)
            try CertificateFactory.write(server.certificatePEM, to: certificatePath, mode: 0o644)
        }
        if !fm.fileExists(atPath: secretPath) {
            let bytes = SecureRandom.bytes(32)
            try CertificateFactory.write(Data(bytes).base64EncodedString() + "\n", to: secretPath, mode: 0o600)
        }
        if !fm.fileExists(atPath: keyEncryptionKeyPath) {
            try CertificateFactory.write(Data(SecureRandom.bytes(32)).base64EncodedString() + "\n", to: keyEncryptionKeyPath, mode: 0o600)
        }
        // Keys made by an older authd or copied in with a looser mode: serve refuses a key others
        // may read, so dev mode (its only writer) tightens its own.
        for path in [caKeyPath, keyPath, secretPath, keyEncryptionKeyPath] {
            try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        }
    }
}

/// The dev material (made on first use), for `--dev`.
func devMaterial(_ common: CommonOptions, _ env: [String: String]) throws -> DevMaterial {
    let material = DevMaterial(directory: URL(fileURLWithPath: Settings.dataDirectory(common, env) + "/dev"))
    try material.ensure()
    return material
}
