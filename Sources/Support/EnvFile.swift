/// Reads the settings files that `scripts/mariadb` writes (`.data/mariadb.env`): one
/// `export KEY='value'` (or `KEY=value`) per line. The one reader for authd's `--dev` and the tests.
public enum EnvFile {
    /// The keys and values of `text`; lines without `=` are skipped, single quotes around a value dropped.
    public static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            var l = Substring(line).drop { $0 == " " || $0 == "\t" }
            if l.hasPrefix("export ") { l = l.dropFirst("export ".count) }
            guard let eq = l.firstIndex(of: "="), eq != l.startIndex else { continue }
            var value = l[l.index(after: eq)...]
            while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
            if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") { value = value.dropFirst().dropLast() }
            values[String(l[..<eq])] = String(value)
        }
        return values
    }
}
