/// Looks up the messages and enums of a schema by full name, with the nested path the
/// emitters name them by (`HealthReply.ServingStatus`, the package left out).
struct TypeIndex {
    enum Entry {
        case message(Message)
        case enumeration(Enumeration)
    }

    private(set) var entries: [String: Entry] = [:]
    private let package: String

    init(_ schema: SchemaFile) {
        package = schema.package
        for m in schema.messages { add(m) }
        for e in schema.enums { entries[e.fullName] = .enumeration(e) }
    }

    private mutating func add(_ m: Message) {
        entries[m.fullName] = .message(m)
        for n in m.messages { add(n) }
        for e in m.enums { entries[e.fullName] = .enumeration(e) }
    }

    /// `auth.v1.HealthReply.ServingStatus` → `HealthReply.ServingStatus`.
    func localPath(_ fullName: String) -> String {
        package.isEmpty ? fullName : String(fullName.dropFirst(package.count + 1))
    }

    /// `localPath` with each component a Swift identifier (keywords in backticks).
    func swiftPath(_ fullName: String) -> String {
        localPath(fullName).split(separator: ".").map { Naming.swiftIdentifier(String($0)) }.joined(separator: ".")
    }

    func enumeration(_ fullName: String) -> Enumeration? {
        if case .enumeration(let e)? = entries[fullName] { return e }
        return nil
    }

    /// Whether a singular field of type `target` inside `owner` closes a cycle of singular
    /// message fields (so it must be stored out of line in Swift).
    func isOnCycle(owner: String, target: String) -> Bool {
        var seen: Set<String> = []
        var stack = [target]
        while let name = stack.popLast() {
            if name == owner { return true }
            guard seen.insert(name).inserted, case .message(let m)? = entries[name] else { continue }
            for f in m.fields where !f.isRepeated {
                if case .message(let next) = f.type { stack.append(next) }
            }
        }
        return false
    }
}
