/// Two files that declare the same messages and enums, field for field, each in its own package
/// (gRPC reflection's v1alpha and v1): what lets one file's Swift types be aliases of the
/// other's (`SwiftEmitter`'s `messagesFrom`), while each keeps its services and descriptor.
extension SchemaFile {
    /// The first top-level message or enum of this file or of `other` that the other does not
    /// declare alike (comments aside; a name in a file's own package read without it), or nil.
    public func firstTypeDiffering(from other: SchemaFile) -> String? {
        let mine = typeShapes(), theirs = other.typeShapes()
        let names = (messages.map(\.name) + enums.map(\.name) + other.messages.map(\.name) + other.enums.map(\.name))
        return names.first { mine[$0] != theirs[$0] }
    }

    /// Each top-level message and enum, by name, as text that is equal for equal declarations.
    private func typeShapes() -> [String: String] {
        func type(_ t: FieldType) -> String {
            switch t {
            case .scalar(let s): return s.rawValue
            case .message(let n), .enumeration(let n), .unresolved(let n):
                return !package.isEmpty && n.hasPrefix(package + ".") ? String(n.dropFirst(package.count + 1)) : "." + n
            }
        }
        func shape(_ e: Enumeration) -> String {
            let values = e.values.map { "\($0.name)=\($0.number)" }
            let reserved = e.reservedRanges.map { "\($0.lower)-\($0.upper)" } + e.reservedNames
            return "enum \(e.name) {\(values.joined(separator: "; ")) reserved \(reserved)}"
        }
        func shape(_ m: Message) -> String {
            let fields = m.fields.map { f in
                "\(f.isRepeated ? "repeated " : "")\(f.isPacked ? "" : "unpacked ")\(type(f.type)) \(f.name)=\(f.number)"
                    + (f.oneofIndex.map { " oneof \($0)" } ?? "")
            }
            let reserved = m.reservedRanges.map { "\($0.lower)-\($0.upper)" } + m.reservedNames
            let nested = m.messages.map(shape) + m.enums.map(shape)
            return "message \(m.name)\(m.isMapEntry ? " map entry" : "") {\(fields.joined(separator: "; ")) oneofs \(m.oneofs)"
                + " reserved \(reserved) \(nested.joined(separator: " "))}"
        }
        var out: [String: String] = [:]
        for m in messages { out[m.name] = shape(m) }
        for e in enums { out[e.name] = shape(e) }
        return out
    }
}
