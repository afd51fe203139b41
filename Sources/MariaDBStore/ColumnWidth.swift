/// The widths of the schema's text columns, in characters: read by the migrations that create
/// the columns and by the statements that truncate what they store, so the two cannot disagree.
///
/// A migration is never edited once shipped, and migration 1 reads these constants: widening a
/// column therefore means changing the constant *and* adding a migration that `MODIFY`s the
/// column to it (a no-op on a database that migration 1 just created with the new width).
enum ColumnWidth {
    /// `users.email`, `users.email_key`, `audit_events.email` (the core accepts at most 254).
    static let email = 254
    /// `users.password_hash`: an argon2id PHC string.
    static let passwordHash = 255
    /// `throttle_buckets.bucket`, `login_attempts.bucket`.
    static let throttleBucket = 128
    /// `known_addresses.address`, `audit_events.client_address`, `refresh_tokens.client_address`:
    /// a normalised client address.
    static let clientAddress = 80
    /// `audit_events.event`: an `AuditEvent.Kind` raw value.
    static let auditEvent = 32
    /// `audit_events.detail`.
    static let auditDetail = 255
    /// `schema_migrations.name`.
    static let migrationName = 200
    /// `service_accounts.client_id` (ServiceIdentity: at most 64).
    static let clientID = 64
    /// `service_accounts.scopes`: up to 32 scopes of 64 characters, space-separated.
    static let scopeList = 32 * 65
    /// `service_accounts.cert_subject`, `cert_uri_san` (the core accepts at most 255 bytes).
    static let certificateName = 255
    /// `user_roles.role` (ServiceIdentity: at most 64).
    static let role = 64
    /// `signing_keys.kid` (the core accepts at most 64).
    static let keyID = 64
    /// `signing_keys.alg`: a `TokenAlgorithm` raw value.
    static let keyAlgorithm = 16
}

extension String {
    /// The string cut to at most `width` characters as MariaDB counts them (Unicode scalars, not
    /// Swift's grapheme clusters), so that it fits a `VARCHAR(width)` column.
    func truncated(to width: Int) -> String {
        let scalars = unicodeScalars
        guard scalars.count > width else { return self }
        return String(scalars.prefix(width))
    }
}
