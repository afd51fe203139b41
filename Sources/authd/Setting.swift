import ArgumentParser
import AuthCore

/// One authd setting, declared once: its flag, its environment variable, its default, the values
/// it accepts and its help. `help` states the default, the range and the variable from the same
/// values `resolve` applies, so `--help` cannot drift from what authd does; a flag and its
/// variable go through the same parse and the same range check, and errors name whichever was
/// used.
///
/// ```swift
/// static let leeway = Setting<Duration>(flag: "leeway", variable: "AUTHD_LEEWAY", unit: .seconds(1),
///                                       bounded: AuthConfiguration.Bounds.leeway, help: "Clock leeway for exp/nbf in seconds")
/// @Option(SettingTable.leeway) var leeway: Int?
/// let leeway = try SettingTable.leeway.resolve(flag: options.leeway, environment: env)
/// ```
struct Setting<Value: Sendable>: Sendable {
    /// The long flag without its dashes: `revocation-poll-ms`.
    let flag: String
    /// The environment variable read when the flag is not given (an empty value counts as unset).
    let variable: String
    /// What the setting is, for the help.
    let summary: String
    /// The value when neither the flag nor the variable is given; nil for no fixed default.
    let defaultValue: Value?
    /// How the help states a default that is not fixed ("the number of cores").
    let defaultLabel: String?
    /// How the help writes the variable, with any extra words ("AUTHD_JWT_SECRET_FILE, or the
    /// secret itself in AUTHD_JWT_SECRET").
    let variableHelp: String
    /// The value's name in the usage line (`<seconds>`), or nil for the flag's own name.
    let valueName: String?
    /// The accepted values as help and errors write them ("10...1000"), or nil.
    let rangeText: String?
    /// What a malformed environment value should have been ("a whole number").
    let expected: String
    private let parse: @Sendable (String) -> Value?
    private let accepts: @Sendable (Value) -> Bool
    private let text: @Sendable (Value) -> String

    init(flag: String, variable: String, default defaultValue: Value?, defaultLabel: String? = nil, variableNote: String? = nil,
         variableHelp: String? = nil, valueName: String? = nil, rangeText: String? = nil, expected: String, help summary: String,
         parse: @escaping @Sendable (String) -> Value?, accepts: @escaping @Sendable (Value) -> Bool = { _ in true },
         text: @escaping @Sendable (Value) -> String) {
        self.flag = flag
        self.variable = variable
        self.summary = summary
        self.defaultValue = defaultValue
        self.defaultLabel = defaultLabel
        self.variableHelp = variableHelp ?? (variable + (variableNote.map { ", " + $0 } ?? ""))
        self.valueName = valueName
        self.rangeText = rangeText
        self.expected = expected
        self.parse = parse
        self.accepts = accepts
        self.text = text
        if let defaultValue { precondition(accepts(defaultValue), "\(variable): the default is outside the range") }
    }

    /// `--flag`, as errors name it.
    var flagName: String { "--" + flag }

    /// The default as the help states it, or nil when there is none (or it goes without saying,
    /// as off for a switch).
    var defaultText: String? { defaultLabel ?? (Value.self == Bool.self ? nil : defaultValue.map(text)) }

    /// The help: the summary, then the default and range, then the variable.
    var help: ArgumentHelp {
        var qualifiers: [String] = []
        if let defaultText { qualifiers.append("default: \(defaultText)") }
        if let rangeText { qualifiers.append("within \(rangeText)") }
        var line = summary
        if !qualifiers.isEmpty { line += " (\(qualifiers.joined(separator: ", ")))" }
        line += ". [\(variableHelp)]"
        return ArgumentHelp(line, valueName: valueName)
    }

    /// The flag's value if given, else the variable's, else nil; checked against the range either way.
    func resolveIfGiven(flag value: Value?, environment: [String: String]) throws(ConfigurationError) -> Value? {
        if let value { return try checked(value, origin: flagName) }
        guard let raw = environment[variable], !raw.isEmpty else { return nil }
        guard let parsed = parse(raw) else {
            throw ConfigurationError("\(variable) must be \(expected), not \(raw.debugDescription)")
        }
        return try checked(parsed, origin: variable)
    }

    /// The flag's value, else the variable's, else the table's default.
    func resolve(flag value: Value?, environment: [String: String]) throws(ConfigurationError) -> Value {
        guard let defaultValue else { preconditionFailure("\(variable) has no fixed default; pass one") }
        return try resolveIfGiven(flag: value, environment: environment) ?? defaultValue
    }

    /// The flag's value, else the variable's, else `computed` (a default known only at run time,
    /// such as the number of cores; `defaultLabel` says it in the help).
    func resolve(flag value: Value?, environment: [String: String], default computed: Value) throws(ConfigurationError) -> Value {
        if let given = try resolveIfGiven(flag: value, environment: environment) { return given }
        return try checked(computed, origin: flagName)
    }

    private func checked(_ value: Value, origin: String) throws(ConfigurationError) -> Value {
        guard accepts(value) else {
            throw ConfigurationError("\(origin) must be within \(rangeText ?? "its range"), not \(text(value))")
        }
        return value
    }
}

extension Setting where Value == String {
    /// Free text (a path, a name, an address checked by its own parser later).
    init(flag: String, variable: String, default defaultValue: String? = nil, defaultLabel: String? = nil,
         variableNote: String? = nil, help: String) {
        self.init(flag: flag, variable: variable, default: defaultValue, defaultLabel: defaultLabel, variableNote: variableNote,
                  expected: "text", help: help, parse: { $0 }, text: { $0 })
    }
}

extension Setting where Value == Int {
    /// A whole number within `range`; `default` nil when it is computed at run time (`defaultLabel`).
    init(flag: String, variable: String, default defaultValue: Int?, defaultLabel: String? = nil, range: ClosedRange<Int>,
         help: String) {
        self.init(flag: flag, variable: variable, default: defaultValue, defaultLabel: defaultLabel,
                  rangeText: "\(range.lowerBound)...\(range.upperBound)", expected: "a whole number", help: help,
                  parse: { Int($0) }, accepts: { range.contains($0) }, text: { String($0) })
    }
}

extension Setting where Value == Duration {
    /// A time, given on the command line and in the environment as a whole number of `unit`
    /// (seconds, milliseconds, …), used everywhere else as a `Duration`.
    init(flag: String, variable: String, unit: Duration, default defaultValue: Duration, range: ClosedRange<Duration>,
         help: String) {
        for bound in [defaultValue, range.lowerBound, range.upperBound] {
            precondition(bound / unit == (bound / unit).rounded(), "\(variable): \(bound) is not a whole number of its unit")
        }
        let count: @Sendable (Duration) -> String = { String(Int64(($0 / unit).rounded())) }
        let unitName = [Duration.seconds(1): "seconds", .milliseconds(1): "ms", .microseconds(1): "microseconds"][unit]
        self.init(flag: flag, variable: variable, default: defaultValue, valueName: unitName,
                  rangeText: "\(count(range.lowerBound))...\(count(range.upperBound))", expected: "a whole number",
                  help: help, parse: { Int64($0).map { unit * $0 } }, accepts: { range.contains($0) }, text: count)
    }

    /// A time whose default and range are the auth core's own (one source for both).
    init(flag: String, variable: String, unit: Duration, bounded: Bounded<Duration>, help: String) {
        self.init(flag: flag, variable: variable, unit: unit, default: bounded.default, range: bounded.range, help: help)
    }

    /// The flag's count of units, else the variable's, else the default. The count is read by
    /// the same parse as the variable's text, so both mean the same unit.
    func resolve(flag count: Int?, environment: [String: String]) throws(ConfigurationError) -> Duration {
        try resolve(flag: count.map { parse(String($0))! }, environment: environment)
    }
}

extension Setting where Value: RawRepresentable & CaseIterable, Value.RawValue == String {
    /// One of a fixed set of choices (an `ExpressibleByArgument` enum: ArgumentParser lists the
    /// choices in the help and refuses others on the command line; the variable is read with the
    /// same enum).
    init(flag: String, variable: String, default defaultValue: Value, help: String) {
        let names = Value.allCases.map(\.rawValue).joined(separator: ", ")
        self.init(flag: flag, variable: variable, default: defaultValue, expected: "one of \(names)", help: help,
                  parse: { Value(rawValue: $0) }, text: { $0.rawValue })
    }
}

extension Setting where Value == Bool {
    /// An on/off switch, off unless the flag is given or the variable is 1 (0 is off too).
    init(flag: String, variable: String, help: String) {
        self.init(flag: flag, variable: variable, default: false, variableHelp: variable + "=1", expected: "1 or 0", help: help,
                  parse: { ["1": true, "0": false][$0] }, text: { $0 ? "1" : "0" })
    }

    /// On when the flag is given or the variable says 1.
    func resolve(flag: Bool, environment: [String: String]) throws(ConfigurationError) -> Bool {
        try resolve(flag: flag ? true : nil, environment: environment)
    }
}

extension Option {
    /// An option whose long name and help come from a settings-table entry; nil when not given
    /// (the entry's `resolve` then reads the variable and the default).
    init<T: ExpressibleByArgument, V>(_ setting: Setting<V>, parsing: SingleValueParsingStrategy = .next)
    where Value == T? {
        self.init(name: .customLong(setting.flag), parsing: parsing, help: setting.help)
    }
}
