/// Looks up the messages and enums of a schema and of the files it imports by full name, with
/// the Swift names the emitters give them: the nested path (`HealthReply.ServingStatus`, the
/// package left out), or with `packagePrefix` that path behind the package's prefix
/// (`Grpc_Health_V1_HealthCheckResponse.ServingStatus`, as swift-protobuf names types), so
/// that files of several packages can share one Swift module.
struct TypeIndex {
    enum Entry {
        case message(Message)
        case enumeration(Enumeration)
    }

    private(set) var entries: [String: Entry] = [:]
    /// The package of the file each type comes from.
    private var packages: [String: String] = [:]
    private let package: String
    let packagePrefix: Bool

    init(_ schema: SchemaFile, packagePrefix: Bool = false) {
        package = schema.package
        self.packagePrefix = packagePrefix
        for file in schema.transitiveDependencies + [schema] {
            for m in file.messages { add(m, file.package) }
            for e in file.enums { add(e, file.package) }
        }
    }

    private mutating func add(_ m: Message, _ package: String) {
        entries[m.fullName] = .message(m)
        packages[m.fullName] = package
        for n in m.messages { add(n, package) }
        for e in m.enums { add(e, package) }
    }

    private mutating func add(_ e: Enumeration, _ package: String) {
        entries[e.fullName] = .enumeration(e)
        packages[e.fullName] = package
    }

    /// `auth.v1.HealthReply.ServingStatus` → `HealthReply.ServingStatus`.
    func localPath(_ fullName: String) -> String {
        let package = packages[fullName] ?? self.package
        return package.isEmpty ? fullName : String(fullName.dropFirst(package.count + 1))
    }

    /// `localPath` with each component a Swift identifier (keywords in backticks), the first one
    /// behind the package prefix when `packagePrefix` is set.
    func swiftPath(_ fullName: String) -> String {
        var parts = localPath(fullName).split(separator: ".").map { Naming.swiftIdentifier(String($0)) }
        if packagePrefix, !parts.isEmpty {
            parts[0] = Naming.swiftPackagePrefix(packages[fullName] ?? package) + parts[0]
        }
        return parts.joined(separator: ".")
    }

    /// The Swift name of a top-level declaration (message, enum or service namespace) of this file.
    func topLevelName(_ name: String) -> String {
        packagePrefix ? Naming.swiftPackagePrefix(package) + name : Naming.swiftIdentifier(name)
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
