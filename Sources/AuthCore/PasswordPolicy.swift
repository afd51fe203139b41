import Foundation

/// The password rules: a length in characters (default 8 to 1,024) and not among the
/// commonly used passwords (the 10,000 most common, shipped in `Resources/common-passwords.txt`,
/// compared case-insensitively). Both apply to the password's Unicode NFC form
/// (`normalized(_:)`), the form it is hashed and verified in.
public struct PasswordPolicy: Sendable {
    public let length: ClosedRange<Int>
    private let common: Set<String>

    /// The shipped list, loaded once.
    public static let commonPasswords: Set<String> = {
        guard let url = Bundle.module.url(forResource: "common-passwords", withExtension: "txt"),
              let text = try? String(contentsOf: url, encoding: .utf8) else {
            fatalError("AuthCore resource common-passwords.txt is missing from the bundle")
        }
        return Set(text.split(separator: "\n").map { $0.lowercased() })
    }()

    /// UTF-8 bytes a character may take in NFC, for the cheap bound checked before counting.
    static let bytesPerCharacter = 4
    /// How much NFC can shrink a string (conjoining Hangul jamo: 9 bytes become one 3-byte
    /// syllable), with a margin: input longer than this many times the NFC bound cannot be
    /// within it, so it is refused without normalising it.
    static let normalizationShrinkage = 4

    public init(length: ClosedRange<Int> = 8...1024, commonPasswords: Set<String> = PasswordPolicy.commonPasswords) {
        self.length = length
        self.common = commonPasswords
    }

    /// The form a password is checked, hashed and verified in: Unicode NFC, so that "é" typed
    /// precomposed (U+00E9) or decomposed (e, U+0301) is the same password. ASCII is returned
    /// as is. Nil when the password is too long to be acceptable whatever its form (the work of
    /// normalising is bounded by the policy's maximum).
    public func normalized(_ password: String) -> String? {
        let bytes = password.utf8.count
        if bytes > length.upperBound * Self.bytesPerCharacter * Self.normalizationShrinkage { return nil }
        if password.utf8.allSatisfy({ $0 < 0x80 }) { return bytes > length.upperBound * Self.bytesPerCharacter ? nil : password }
        let nfc = password.precomposedStringWithCanonicalMapping
        return nfc.utf8.count > length.upperBound * Self.bytesPerCharacter ? nil : nfc
    }

    /// nil when acceptable, else why not. Counts the characters of the NFC form.
    public func check(_ password: String) -> PasswordRejection? {
        // Bound the work before counting characters: 4 bytes at most per character.
        guard let password = normalized(password) else { return .tooLong(maximum: length.upperBound) }
        let count = password.count
        if count < length.lowerBound { return .tooShort(minimum: length.lowerBound) }
        if count > length.upperBound { return .tooLong(maximum: length.upperBound) }
        if count <= 64, common.contains(password.lowercased()) { return .common }
        return nil
    }
}
