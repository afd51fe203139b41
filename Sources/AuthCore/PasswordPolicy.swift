import Foundation

/// The password rules: a length in characters (default 8 to 1,024) and not among the
/// commonly used passwords (the 10,000 most common, shipped in `Resources/common-passwords.txt`,
/// compared case-insensitively).
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

    public init(length: ClosedRange<Int> = 8...1024, commonPasswords: Set<String> = PasswordPolicy.commonPasswords) {
        self.length = length
        self.common = commonPasswords
    }

    /// nil when acceptable, else why not.
    public func check(_ password: String) -> PasswordRejection? {
        // Bound the work before counting characters: 4 bytes at most per character.
        if password.utf8.count > length.upperBound * 4 { return .tooLong(maximum: length.upperBound) }
        let count = password.count
        if count < length.lowerBound { return .tooShort(minimum: length.lowerBound) }
        if count > length.upperBound { return .tooLong(maximum: length.upperBound) }
        if count <= 64, common.contains(password.lowercased()) { return .common }
        return nil
    }
}
